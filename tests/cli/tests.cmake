# End-to-end CLI tests (pytest driving the real binary on the real model).
add_test(NAME cli_e2e
         COMMAND ${SMELT_PYTHON} -m pytest -q -p no:cacheprovider ${CMAKE_CURRENT_LIST_DIR}/test_cli.py
                 --smelt $<TARGET_FILE:smelt> --model-dir ${SMELT_MODEL_DIR})
set_tests_properties(cli_e2e PROPERTIES RUN_SERIAL TRUE)
