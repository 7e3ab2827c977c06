# End-to-end CLI tests (pytest driving the real binary on the real model).
set(_cli_cmd ${SMELT_PYTHON} -m pytest -q -p no:cacheprovider ${CMAKE_CURRENT_LIST_DIR}/test_cli.py
    --smelt $<TARGET_FILE:smelt> --model-dir ${SMELT_MODEL_DIR} --vocab-dir ${SMELT_SHARED_DIR}/testdata/vocab)
# Two tests compare greedy text with llama.cpp's (AVX2 build), so this run pins the AVX2 tier,
# whose arithmetic is llama.cpp's bit for bit.
add_test(NAME cli_e2e COMMAND ${_cli_cmd})
# The rest again on the tier the machine picks (AVX-512 where it runs: its own summation order,
# which can turn a near-tie the other way, so the llama.cpp text comparisons are left out).
add_test(NAME cli_e2e_default_tier COMMAND ${_cli_cmd} -k "not greedy_matches_llama_cpp and not chat_piped")
set_tests_properties(cli_e2e PROPERTIES ENVIRONMENT SMELT_ISA=avx2)
set_tests_properties(cli_e2e cli_e2e_default_tier PROPERTIES RUN_SERIAL TRUE)
