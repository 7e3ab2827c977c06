# Chat templates: the C engine against Python jinja2 (transformers' settings).
smelt_add_test_exe(tmpl_render ${CMAKE_CURRENT_LIST_DIR}/tmpl_render.c)
add_test(NAME tmpl_jinja2_oracle
         COMMAND ${SMELT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_oracle.py $<TARGET_FILE:tmpl_render>)
add_test(NAME tmpl_corpus
         COMMAND ${SMELT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_oracle.py --corpus $<TARGET_FILE:tmpl_render>)
if(SMELT_FUZZ)
  # the template engine is compiled into the fuzzer so it gets coverage instrumentation
  file(GLOB _tmpl_src CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/tok/tmpl_*.c ${CMAKE_SOURCE_DIR}/src/base/*.c)
  add_executable(fuzz_tmpl ${CMAKE_CURRENT_LIST_DIR}/fuzz_tmpl.c ${_tmpl_src})
  target_include_directories(fuzz_tmpl PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(fuzz_tmpl PRIVATE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
  target_link_options(fuzz_tmpl PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_tmpl PRIVATE PkgConfig::CJSON PkgConfig::UTF8PROC Threads::Threads m)
endif()
smelt_add_test_exe(test_tmpl_api ${CMAKE_CURRENT_LIST_DIR}/test_tmpl_api.c)
add_test(NAME tmpl_api COMMAND test_tmpl_api)
# Llama 3 / Qwen2 / Phi-3 templates through model files of those architectures.
smelt_add_test_exe(tmpl_model ${CMAKE_CURRENT_LIST_DIR}/tmpl_model.c)
add_test(NAME tmpl_through_models
         COMMAND ${SMELT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_model_templates.py $<TARGET_FILE:tmpl_model>
                 ${CMAKE_SOURCE_DIR}/tests/arch/golden)
