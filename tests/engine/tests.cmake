smelt_add_test_exe(test_chat_format ${CMAKE_CURRENT_LIST_DIR}/test_chat_format.c)
add_test(NAME engine_chat_format COMMAND test_chat_format ${SMELT_MODEL_DIR})
