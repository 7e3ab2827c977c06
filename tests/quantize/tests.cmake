# smelt quantize / smelt imatrix against llama.cpp (goldens: scripts/golden_quantize.py).
set(_q_cmd ${SMELT_PYTHON} -m pytest -q -p no:cacheprovider ${CMAKE_CURRENT_LIST_DIR}/test_quantize.py
    --smelt $<TARGET_FILE:smelt> --test-model $<TARGET_FILE:test_model> --model-dir ${SMELT_MODEL_DIR})
# Under ASan+UBSan (10x slower) the byte-identity check covers one type per
# quantizer family instead of all 18.
if(SMELT_SANITIZE)
  list(APPEND _q_cmd --quick)
endif()
foreach(group errors ref imatrix roundtrip)
  add_test(NAME quantize_${group} COMMAND ${_q_cmd} -k "test_${group}_")
endforeach()
# each runs quantizers / the model on 2 threads
set_tests_properties(quantize_errors quantize_ref quantize_imatrix quantize_roundtrip PROPERTIES RUN_SERIAL TRUE)
# the round trips compare logits with llama.cpp's AVX2 build (see tests/model), and the imatrix
# statistics with llama-imatrix's (activations of the forward pass in its AVX2 arithmetic). The
# error feedback's second moments and Cholesky factors come from OpenBLAS, whose kernels (and so
# the last bits of the quantized files pinned by sha256) depend on the CPU: its Haswell kernels
# are forced so that the goldens hold on every x86-64 machine with AVX2.
set_tests_properties(quantize_roundtrip quantize_imatrix PROPERTIES ENVIRONMENT
                     "SMELT_ISA=avx2;OPENBLAS_CORETYPE=Haswell")

# Error feedback (GPTQ-style, src/model/quantize_gptq.c) on a synthetic layer: lower held-out
# output error than the diagonal importances alone for every type, row independence, damping.
smelt_add_test_exe(test_error_feedback ${CMAKE_CURRENT_LIST_DIR}/test_error_feedback.c)
foreach(_c gain rows degenerate pos0 shrink)
  add_test(NAME quantize_error_feedback_${_c} COMMAND test_error_feedback ${_c})
endforeach()
