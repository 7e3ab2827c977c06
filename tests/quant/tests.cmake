# Tensor types and kernels (owner: quant/kernels helper).
smelt_add_test_exe(test_quant ${CMAKE_CURRENT_LIST_DIR}/test_quant.c)
add_test(NAME quant_kernels COMMAND test_quant kernels)
add_test(NAME quant_convert COMMAND test_quant convert)
add_test(NAME quant_bounds COMMAND test_quant bounds)
add_test(NAME quant_matmul COMMAND test_quant matmul)
add_test(NAME quant_matmul_ref COMMAND test_quant matmul)
set_tests_properties(quant_matmul_ref PROPERTIES ENVIRONMENT "SMELT_FORCE_REF=1")
add_test(NAME quant_isa_force_ref COMMAND test_quant isa ref)
set_tests_properties(quant_isa_force_ref PROPERTIES ENVIRONMENT "SMELT_FORCE_REF=1")
add_test(NAME quant_isa_generic COMMAND test_quant isa generic)
set_tests_properties(quant_isa_generic PROPERTIES ENVIRONMENT "SMELT_ISA=generic")

# Golden files from tests/quant/make_golden.py (gguf python = llama.cpp reference quantizers).
smelt_add_test_exe(test_quant_golden ${CMAKE_CURRENT_LIST_DIR}/test_quant_golden.c)
add_test(NAME quant_golden COMMAND test_quant_golden quant ${CMAKE_CURRENT_LIST_DIR}/golden)
# vec_dot against llama.cpp's AVX2 kernels (tests/quant/make_vecdot_golden.py, oracle venv): bit-identical
# for Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K IQ4_XS (Q2_K, Q3_K, IQ4_NL are not yet: ~1e-5 relative)
add_test(NAME quant_vecdot_ggml COMMAND test_quant_golden vecdot ${CMAKE_CURRENT_LIST_DIR}/golden)
set_tests_properties(quant_vecdot_ggml PROPERTIES ENVIRONMENT SMELT_ISA=avx2)
# Real tensors: a missing model FAILS (with a message to run `smelt pull`).
add_test(NAME quant_golden_model COMMAND test_quant_golden model ${CMAKE_CURRENT_LIST_DIR}/golden
         ${SMELT_MODEL_DIR}/SmolLM2-135M-Instruct.Q4_1.gguf model_tensors.txt smollm2-135m)
add_test(NAME quant_golden_model_gemma COMMAND test_quant_golden model ${CMAKE_CURRENT_LIST_DIR}/golden
         ${SMELT_MODEL_DIR}/gemma-3-270m-q4_k_m.gguf model_tensors_gemma.txt gemma3-270m)

# Tiled matmuls: bit-identical (memcmp) to one vec_dot per output, every tier and the dispatched path.
smelt_add_test_exe(test_matmul_bitexact ${CMAKE_CURRENT_LIST_DIR}/test_matmul_bitexact.c)
add_test(NAME quant_matmul_bitexact COMMAND test_matmul_bitexact tiers)
add_test(NAME quant_matmul_bitexact_dispatch COMMAND test_matmul_bitexact dispatch)

# Importance-weighted quantizers of `smelt quantize` (src/quant/quant_imat.c).
smelt_add_test_exe(test_quant_imat ${CMAKE_CURRENT_LIST_DIR}/test_quant_imat.c)
foreach(_c bounds vsref imatrix badargs determinism exact)
  add_test(NAME quant_imat_${_c} COMMAND test_quant_imat ${_c})
endforeach()
