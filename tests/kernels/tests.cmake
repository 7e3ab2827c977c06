# AVX-512 kernels over repacked weights (skipped, exit 77, where the AVX-512 tier is not active).
smelt_add_test_exe(test_x16 ${CMAKE_CURRENT_LIST_DIR}/test_x16.c)
add_test(NAME kernels_x16 COMMAND test_x16)
set_tests_properties(kernels_x16 PROPERTIES SKIP_RETURN_CODE 77)
smelt_add_test_exe(test_attn ${CMAKE_CURRENT_LIST_DIR}/test_attn.c)
add_test(NAME kernels_attn COMMAND test_attn)
set_tests_properties(kernels_attn PROPERTIES SKIP_RETURN_CODE 77)
# GeGLU through ggml's f16 table: the dispatched tier against its definition, every f16 input.
smelt_add_test_exe(test_geglu ${CMAKE_CURRENT_LIST_DIR}/test_geglu.c)
add_test(NAME kernels_geglu COMMAND test_geglu)
add_test(NAME kernels_geglu_scalar COMMAND test_geglu)
set_tests_properties(kernels_geglu_scalar PROPERTIES ENVIRONMENT SMELT_ISA=generic)
# RMSNorm's sum of squares: in order (llama.cpp's) and in 8 lanes (the AVX-512 tier) against its C form.
smelt_add_test_exe(test_sumsq ${CMAKE_CURRENT_LIST_DIR}/test_sumsq.c)
add_test(NAME kernels_sumsq COMMAND test_sumsq)
add_test(NAME kernels_sumsq_generic COMMAND test_sumsq)
set_tests_properties(kernels_sumsq_generic PROPERTIES ENVIRONMENT SMELT_ISA=generic)
