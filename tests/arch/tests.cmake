# Architecture oracle tests: small random-weight models (committed under
# tests/arch/golden/<name>/model.gguf) against llama.cpp's logits and greedy
# tokens on them (scripts/golden_arch.py writes models and goldens). The goldens
# come from llama.cpp's AVX2 build, so the tests pin smelt's AVX2 tier; each
# runs 2 worker threads, so they run alone (RUN_SERIAL).
#
# arch_<name>: teacher-forced logits in one batch, bound on max |dlogit|.
# smelt's AVX2 tier is bit-exact on every model here: 1e-5 (the goldens' 6
# printed decimals) asks for that, and every full logits row compares equal.
# What it takes (docs/ARCHITECTURE.md, numerics): F16/F32 matmuls in
# tinyBLAS's order for batches and ggml_vec_dot_f16/f32's for one token; the
# GELU table with ggml's FMA contraction; soft-capping by the reciprocal; Q4_0
# (and Q4_K) weights with 8k rows in the order of llama.cpp's repacked
# q4_0_8x8 (q4_K_8x8) GEMM/GEMV kernels. llama_q4_0/norepack holds goldens
# taken with repacking off; SMELT_NO_REPACK=1 makes smelt match those.
# A test that fails can be run by hand with
#   SMELT_ISA=avx2 build/tests/test_arch tf tests/arch/golden/phi3 1e-5
# and listed in _arch_disabled (DISABLED, "Not Run" in ctest) with a note.
smelt_add_test_exe(test_arch ${CMAKE_CURRENT_LIST_DIR}/test_arch.c)
set(_arch_g ${CMAKE_CURRENT_LIST_DIR}/golden)
set(_arch_tests)
# name, bound; measured: full rows bit-identical (max |dlogit| 0) on all of them,
# top-16 values 9.5e-7 (the goldens' 6-decimal rounding)
foreach(spec
    "llama_untied:1e-5"   # F16
    "llama_q4_0:1e-5"     # Q4_0, all weights repacked by llama.cpp (8k rows)
    "qwen2:1e-5"          # F32 + biases
    "phi3:1e-5"           # F16, fused QKV and gate/up
    "gemma3:1e-5"         # F16, GELU table, soft-cap
    "gemma3_q8_0:1e-5"    # Q8_0
    # RoPE variants (dev/arch/variant.py): linear scaling keys, Llama 3.1 rope_freqs
    "llama_untied_ropescale:1e-5"   # F16 + rope.scaling.factor 4
    "llama_untied_ropefreqs:1e-5"   # F16 + rope_freqs.weight
    "gemma3_q8_0_ropescale:1e-5")   # Q8_0 + scaling 8 on global layers only
  string(REPLACE ":" ";" spec "${spec}")
  list(GET spec 0 m)
  list(GET spec 1 bound)
  add_test(NAME arch_${m} COMMAND test_arch tf ${_arch_g}/${m} ${bound})
  add_test(NAME arch_${m}_greedy COMMAND test_arch greedy ${_arch_g}/${m})
  list(APPEND _arch_tests arch_${m} arch_${m}_greedy)
endforeach()
# Q4_0 against llama.cpp without weight repacking (SMELT_NO_REPACK=1): bit-exact (max 0)
add_test(NAME arch_llama_q4_0_norepack COMMAND test_arch tf ${_arch_g}/llama_q4_0/norepack 1e-5
         ${_arch_g}/llama_q4_0/model.gguf)
add_test(NAME arch_llama_q4_0_norepack_greedy COMMAND test_arch greedy ${_arch_g}/llama_q4_0/norepack
         ${_arch_g}/llama_q4_0/model.gguf)
# the cut-down SmolLM2 vocabulary the models carry: smelt tokenizes like llama.cpp
add_test(NAME arch_tokenizer COMMAND test_arch tok ${_arch_g}/llama_untied ${CMAKE_SOURCE_DIR}/tests/data/gpl3.txt)
# inconsistent gemma3 metadata: clear load errors
add_test(NAME arch_bad_metadata COMMAND test_arch bad ${_arch_g}/bad)
list(APPEND _arch_tests arch_llama_q4_0_norepack arch_llama_q4_0_norepack_greedy arch_tokenizer arch_bad_metadata)
set_tests_properties(${_arch_tests} PROPERTIES ENVIRONMENT SMELT_ISA=avx2 RUN_SERIAL TRUE)
set_tests_properties(arch_llama_q4_0_norepack arch_llama_q4_0_norepack_greedy PROPERTIES ENVIRONMENT
                     "SMELT_ISA=avx2;SMELT_NO_REPACK=1")
set(_arch_disabled)
if(_arch_disabled)
  set_tests_properties(${_arch_disabled} PROPERTIES DISABLED TRUE)
endif()
