# GGUF reader tests (area: gguf).
smelt_add_test_exe(test_gguf_read ${CMAKE_CURRENT_LIST_DIR}/test_gguf_read.c)
add_test(NAME gguf_read COMMAND test_gguf_read)
smelt_add_test_exe(test_gguf_corrupt ${CMAKE_CURRENT_LIST_DIR}/test_gguf_corrupt.c)
add_test(NAME gguf_corrupt COMMAND test_gguf_corrupt)
smelt_add_test_exe(test_gguf_models ${CMAKE_CURRENT_LIST_DIR}/test_gguf_models.c)
add_test(NAME gguf_models COMMAND test_gguf_models)
set_tests_properties(gguf_models PROPERTIES ENVIRONMENT "SMELT_MODEL_DIR=${SMELT_MODEL_DIR}")
# Cross-check with gguf-py: files written by gguf.GGUFWriter, read by smelt
# (gguf_dump) and by gguf.GGUFReader, must dump identically.
smelt_add_test_exe(gguf_dump ${CMAKE_CURRENT_LIST_DIR}/gguf_dump.c)
add_test(NAME gguf_pywriter COMMAND ${SMELT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/gguf_py_writer.py $<TARGET_FILE:gguf_dump>)
