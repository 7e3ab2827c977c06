# Fuzz targets (area: gguf owns this folder; other parsers may add targets here).
#
# Always built: replay drivers that feed each stored corpus file to the fuzz
# entry point under plain ctest (and under ASan/UBSan with -DSMELT_SANITIZE=ON).
# With -DSMELT_FUZZ=ON (clang only) the libFuzzer binaries are built too; see
# tests/fuzz/README.md.
smelt_add_test_exe(fuzz_gguf_replay ${CMAKE_CURRENT_LIST_DIR}/fuzz_gguf.c ${CMAKE_CURRENT_LIST_DIR}/replay_main.c)
add_test(NAME gguf_fuzz_replay COMMAND fuzz_gguf_replay ${CMAKE_CURRENT_LIST_DIR}/corpus/gguf)
smelt_add_test_exe(fuzz_imatrix_replay ${CMAKE_CURRENT_LIST_DIR}/fuzz_imatrix.c ${CMAKE_CURRENT_LIST_DIR}/replay_main.c)
add_test(NAME imatrix_fuzz_replay COMMAND fuzz_imatrix_replay ${CMAKE_CURRENT_LIST_DIR}/corpus/imatrix)

if(SMELT_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SMELT_FUZZ needs clang (CC=clang cmake -DSMELT_FUZZ=ON -DSMELT_SANITIZE=ON ...)")
  endif()
  # The code under test is compiled into the fuzzer directly so that it gets
  # libFuzzer's coverage instrumentation (the library itself is not).
  file(GLOB _smelt_fuzz_base CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/base/*.c)
  add_executable(fuzz_gguf ${CMAKE_CURRENT_LIST_DIR}/fuzz_gguf.c ${CMAKE_SOURCE_DIR}/src/gguf/gguf.c ${_smelt_fuzz_base})
  target_include_directories(fuzz_gguf PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(fuzz_gguf PRIVATE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
  target_link_options(fuzz_gguf PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_gguf PRIVATE Threads::Threads m)

  add_executable(fuzz_imatrix ${CMAKE_CURRENT_LIST_DIR}/fuzz_imatrix.c ${CMAKE_SOURCE_DIR}/src/model/imatrix_load.c
                 ${CMAKE_SOURCE_DIR}/src/gguf/gguf.c ${_smelt_fuzz_base})
  target_include_directories(fuzz_imatrix PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(fuzz_imatrix PRIVATE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
  target_link_options(fuzz_imatrix PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_imatrix PRIVATE Threads::Threads m)
endif()
