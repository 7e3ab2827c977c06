# Tokenizer tests (area: tok). Chat templates have their own tests/tmpl/.
smelt_add_test_exe(test_tok_vocab ${CMAKE_CURRENT_LIST_DIR}/test_tok_vocab.c)
# llama.cpp's vocabulary conformance suites, one test per vocabulary.
foreach(v gpt-2 starcoder falcon mpt refact deepseek-coder deepseek-llm llama-spm phi-3)
  add_test(NAME tok_vocab_${v}
           COMMAND test_tok_vocab ${SMELT_SHARED_DIR}/testdata/vocab/ggml-vocab-${v}.gguf)
endforeach()
add_test(NAME tok_vocab_bert-bge_refused
         COMMAND test_tok_vocab --refuse ${SMELT_SHARED_DIR}/testdata/vocab/ggml-vocab-bert-bge.gguf)

# Invalid UTF-8, streaming detokenizer, ~100 KB texts, metadata validation.
smelt_add_test_exe(test_tok_misc ${CMAKE_CURRENT_LIST_DIR}/test_tok_misc.c)
add_test(NAME tok_misc
         COMMAND test_tok_misc ${SMELT_SHARED_DIR}/testdata/vocab ${CMAKE_CURRENT_LIST_DIR}/corpus.txt)

# Against llama.cpp goldens (scripts/golden_tok.py); a missing model fails the test.
smelt_add_test_exe(test_tok_golden ${CMAKE_CURRENT_LIST_DIR}/test_tok_golden.c)
foreach(pair "smollm2:SmolLM2-135M-Instruct.Q4_1.gguf" "gemma3:gemma-3-270m-q4_k_m.gguf")
  string(REPLACE ":" ";" pair "${pair}")
  list(GET pair 0 name)
  list(GET pair 1 file)
  add_test(NAME tok_golden_${name}
           COMMAND test_tok_golden ${CMAKE_CURRENT_LIST_DIR}/golden/${name}.txt ${SMELT_MODEL_DIR}/${file}
                   ${CMAKE_CURRENT_LIST_DIR}/corpus.txt)
endforeach()
