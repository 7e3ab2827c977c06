/* libFuzzer target for the chat-template engine (built when SMELT_FUZZ=ON).
 * Input: template text; rendered with a fixed context through both APIs.
 * Crashes found become files in tests/tmpl/corpus/ (via make_corpus.py). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smelt/tok.h"

static const char CTX[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"sys\"}, {\"role\": \"user\", \"content\": \"h\\u00e9 {{x}}\"},"
    " {\"role\": \"assistant\", \"content\": \" a \", \"tool_calls\": [{\"id\": \"123456789\", \"function\": "
    "{\"name\": \"f\", \"arguments\": {\"k\": [1, 2.5, null, true]}}}]}], \"tools\": [{\"type\": \"function\"}],"
    " \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"xs\": [3, 1, 2]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct smelt_tmpl *t = NULL;
    if (smelt_tmpl_parse((const char *)data, size, &t) != SMELT_OK) return 0;
    char *out = NULL;
    size_t len = 0;
    if (smelt_tmpl_render_json(t, CTX, sizeof CTX - 1, &out, &len) == SMELT_OK) free(out);
    struct smelt_chat_msg msgs[2] = {{"user", "hi"}, {"assistant", NULL}};
    out = NULL;
    if (smelt_tmpl_render(t, msgs, 2, false, "<s>", NULL, &out, &len) == SMELT_OK) free(out);
    smelt_tmpl_free(t);
    return 0;
}
