# Sampler and stop-string matcher tests.
smelt_add_test_exe(test_sample_sampler ${CMAKE_CURRENT_LIST_DIR}/test_sampler.c)
add_test(NAME sample_sampler COMMAND test_sample_sampler)
smelt_add_test_exe(test_sample_stop ${CMAKE_CURRENT_LIST_DIR}/test_stop.c)
add_test(NAME sample_stop COMMAND test_sample_stop)
