/* smelt_chat_format and smelt_tokenize_prompt: the model's own template
 * (SmolLM2) and the built-in fallback for a GGUF without one (Gemma 3 270M),
 * checked against jinja2's rendering of the same templates (expected strings
 * below were produced by jinja2 with transformers' settings). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "smelt/engine.h"

static void check_format(const char *path, const struct smelt_chat_msg *msgs, size_t n, const char *want,
                         const int32_t *want_ids, size_t n_want) {
    struct smelt_model *m;
    if (smelt_model_load(path, &m)) {
        fprintf(stderr, "%s\n(run smelt pull)\n", smelt_last_error());
        check_failures++;
        return;
    }
    char *out = NULL;
    CHECK(smelt_chat_format(m, msgs, n, true, &out) == SMELT_OK);
    CHECKF(out && !strcmp(out, want), "got [%s]", out ? out : "(null)");
    int32_t *ids = NULL;
    size_t nids = 0;
    CHECK(smelt_tokenize_prompt(m, out, strlen(out), &ids, &nids) == SMELT_OK);
    CHECKF(nids == n_want && !memcmp(ids, want_ids, n_want * sizeof *ids), "%zu ids", nids);
    free(ids);
    free(out);
    smelt_model_free(m);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char smol[1024], gemma[1024];
    snprintf(smol, sizeof smol, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", argv[1]);
    snprintf(gemma, sizeof gemma, "%s/gemma-3-270m-q4_k_m.gguf", argv[1]);
    struct smelt_chat_msg hi = {"user", "hi"};
    /* Gemma 3: no template in the GGUF -> built-in Gemma template; the <bos> in
     * the text is not doubled by the tokenizer's add_bos */
    static const int32_t gemma_ids[] = {2, 105, 2364, 107, 2202, 106, 107, 105, 4368, 107};
    check_format(gemma, &hi, 1, "<bos><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n", gemma_ids,
                 sizeof gemma_ids / sizeof *gemma_ids);
    /* SmolLM2: its own ChatML template with the default system prompt */
    static const int32_t smol_ids[] = {1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28,
                                       7018, 411, 407, 19712, 8182, 2, 198, 1, 4093, 198, 6004, 2, 198, 1, 520, 9531, 198};
    check_format(smol, &hi, 1,
                 "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
                 "Face<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
                 smol_ids, sizeof smol_ids / sizeof *smol_ids);
    return CHECK_EXIT();
}
