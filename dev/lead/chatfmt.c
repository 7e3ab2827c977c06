#include <stdio.h>
#include <stdlib.h>
#include "smelt/engine.h"
int main(int argc, char **argv) {
    struct smelt_model *m;
    if (smelt_model_load(argv[1], &m)) { puts(smelt_last_error()); return 1; }
    struct smelt_chat_msg msg = {"user", argv[2]};
    char *out;
    if (smelt_chat_format(m, &msg, 1, true, &out)) { puts(smelt_last_error()); return 1; }
    printf("[%s]\n", out);
    int32_t *ids; size_t n;
    smelt_tokenize_prompt(m, out, strlen(out), &ids, &n);
    for (size_t i = 0; i < n; i++) printf("%d ", ids[i]);
    puts("");
    return 0;
}
