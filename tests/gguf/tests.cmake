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
# The same files copied by smelt's writer must come out byte-identical.
add_test(NAME gguf_pywriter COMMAND ${SMELT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/gguf_py_writer.py $<TARGET_FILE:gguf_dump>
         $<TARGET_FILE:test_gguf_write>)
# GGUF writer: API round trip + error cases; streamed copies of both real models
# must be byte-identical to the files llama.cpp's tools wrote.
smelt_add_test_exe(test_gguf_write ${CMAKE_CURRENT_LIST_DIR}/test_gguf_write.c)
add_test(NAME gguf_write COMMAND test_gguf_write api)
add_test(NAME gguf_write_models COMMAND test_gguf_write copy
         ${SMELT_MODEL_DIR}/SmolLM2-135M-Instruct.Q4_1.gguf ${SMELT_MODEL_DIR}/gemma-3-270m-q4_k_m.gguf)
