# Model tests: llama.cpp oracle goldens (scripts/golden_model.py) and API invariants.
smelt_add_test_exe(test_model ${CMAKE_CURRENT_LIST_DIR}/test_model.c)
set(_smol ${SMELT_MODEL_DIR}/SmolLM2-135M-Instruct.Q4_1.gguf)
set(_smol_g ${CMAKE_CURRENT_LIST_DIR}/golden/smollm2-135m)
add_test(NAME model_smollm2_tf COMMAND test_model tf ${_smol} ${_smol_g})
add_test(NAME model_smollm2_greedy COMMAND test_model greedy ${_smol} ${_smol_g})
add_test(NAME model_smollm2_ppl COMMAND test_model ppl ${_smol} ${_smol_g} ${CMAKE_SOURCE_DIR}/tests/data/gpl3.txt)
# The goldens come from llama.cpp's AVX2 build; smelt's AVX2 tier reproduces its
# arithmetic bit for bit, so the oracle tests pin that tier (an AVX-512 machine
# would otherwise pick kernels with a different summation order).
set_tests_properties(model_smollm2_tf model_smollm2_greedy model_smollm2_ppl PROPERTIES ENVIRONMENT SMELT_ISA=avx2)
# Gemma 3 270M (Q4_K_M: Q4_K, Q6_K, Q5_0, Q8_0 weights): teacher-forced logits,
# greedy and perplexity against llama.cpp. The 512-token teacher-forced rows are
# bit-identical (max |dlogit| 0, no top-1 mismatch): smelt follows llama.cpp's
# repacked Q4_K GEMM/GEMV kernels and its tiled Q6_K matmul (8+ tokens).
set(_gemma ${SMELT_MODEL_DIR}/gemma-3-270m-q4_k_m.gguf)
set(_gemma_g ${CMAKE_CURRENT_LIST_DIR}/golden/gemma3-270m)
add_test(NAME model_gemma3_tf COMMAND test_model tf ${_gemma} ${_gemma_g})
add_test(NAME model_gemma3_greedy COMMAND test_model greedy ${_gemma} ${_gemma_g})
add_test(NAME model_gemma3_ppl COMMAND test_model ppl ${_gemma} ${_gemma_g} ${CMAKE_SOURCE_DIR}/tests/data/gpl3.txt)
set_tests_properties(model_gemma3_tf model_gemma3_greedy model_gemma3_ppl PROPERTIES ENVIRONMENT SMELT_ISA=avx2
                     RUN_SERIAL TRUE)

# The same oracles on the AVX-512 tier (x16 VNNI matmuls, batched attention: smelt's own summation
# orders), with the tolerances described in test_model.c (skipped, exit 77, without AVX-512).
foreach(_m smollm2 gemma3)
  foreach(_t tf greedy ppl)
    if(_m STREQUAL smollm2)
      set(_f ${_smol})
      set(_g ${_smol_g})
    else()
      set(_f ${_gemma})
      set(_g ${_gemma_g})
    endif()
    add_test(NAME model_${_m}_${_t}_avx512 COMMAND test_model ${_t} ${_f} ${_g} ${CMAKE_SOURCE_DIR}/tests/data/gpl3.txt)
    set_tests_properties(model_${_m}_${_t}_avx512 PROPERTIES ENVIRONMENT "SMELT_ISA=avx512;SMELT_TEST_TOLERANT=1"
                         SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
  endforeach()
endforeach()

add_test(NAME model_batch_vs_alone COMMAND test_model batch ${_smol})
add_test(NAME model_kv_rm_cp COMMAND test_model kvrm ${_smol})
# batched == one by one == the general pass == gathered cells, bit for bit, on the AVX-512 tier
add_test(NAME model_routes_smollm2 COMMAND test_model routes ${_smol})
add_test(NAME model_routes_gemma3 COMMAND test_model routes ${_gemma})
set_tests_properties(model_routes_smollm2 model_routes_gemma3 PROPERTIES SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)

smelt_add_test_exe(test_alloc ${CMAKE_CURRENT_LIST_DIR}/test_alloc.c)
target_link_options(test_alloc PRIVATE -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=posix_memalign)
add_test(NAME model_decode_zero_alloc COMMAND test_alloc ${_smol})

# These tests run 2 worker threads each; running them alongside other tests on a
# 2-core machine oversubscribes the CPUs and makes the barriers of the forward
# pass wait on the scheduler, so they run alone.
set_tests_properties(model_smollm2_tf model_smollm2_greedy model_smollm2_ppl model_batch_vs_alone model_kv_rm_cp
                     model_decode_zero_alloc PROPERTIES RUN_SERIAL TRUE)
