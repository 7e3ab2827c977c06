/* tmpl_model: a chat template exercised through a model file.
 *
 *   tmpl_model MODEL.gguf TEMPLATE_FILE MESSAGES_JSON OUT.gguf
 *
 * Writes OUT.gguf: MODEL with tokenizer.chat_template set to the template's
 * text (every other key and tensor copied with smelt's GGUF writer), loads it
 * with smelt_model_load and prints smelt_chat_format(messages,
 * add_generation_prompt) to stdout. test_model_templates.py renders the same
 * template with jinja2 (bos/eos from the vocabulary) and compares the bytes.
 * Exit status: 0 rendered, 1 on any error (message on stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "smelt/engine.h"
#include "smelt/gguf.h"
#include "smelt/model.h"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long n = ftell(f);
    char *p = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (p && (fseek(f, 0, SEEK_SET) != 0 || fread(p, 1, (size_t)n, f) != (size_t)n)) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) p[n] = 0;
    return p;
}

static enum smelt_status write_with_template(const char *in, const char *tmpl, const char *out) {
    struct smelt_gguf *g = NULL;
    struct smelt_gguf_writer *w = NULL;
    enum smelt_status s = smelt_gguf_open(in, &g);
    if (!s) s = smelt_gguf_writer_new(&w);
    for (int64_t i = 0; !s && i < smelt_gguf_n_kv(g); i++) s = smelt_gguf_writer_copy_kv(w, g, i);
    if (!s) s = smelt_gguf_writer_set_str(w, "tokenizer.chat_template", tmpl);
    for (int64_t i = 0; !s && i < smelt_gguf_n_tensors(g); i++) {
        const struct smelt_gguf_tensor *t = smelt_gguf_tensor(g, i);
        s = smelt_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, NULL);
    }
    if (!s) s = smelt_gguf_writer_write_file(w, out);
    smelt_gguf_writer_free(w);
    smelt_gguf_free(g);
    return s;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: tmpl_model MODEL.gguf TEMPLATE_FILE MESSAGES_JSON OUT.gguf\n");
        return 1;
    }
    char *tmpl = slurp(argv[2]), *json = slurp(argv[3]);
    if (!tmpl || !json) {
        fprintf(stderr, "cannot read %s or %s\n", argv[2], argv[3]);
        return 1;
    }
    int rc = 1;
    struct smelt_model *m = NULL;
    cJSON *root = NULL;
    struct smelt_chat_msg *msgs = NULL;
    char *text = NULL;
    if (write_with_template(argv[1], tmpl, argv[4]) || smelt_model_load(argv[4], &m)) {
        fprintf(stderr, "%s\n", smelt_last_error());
        goto out;
    }
    const char *got = smelt_model_chat_template(m);
    if (!got || strcmp(got, tmpl) != 0) {
        fprintf(stderr, "the model does not carry the template that was written\n");
        goto out;
    }
    root = cJSON_Parse(json);
    int n = cJSON_GetArraySize(root);
    if (!cJSON_IsArray(root) || n < 1 || !(msgs = calloc((size_t)n, sizeof *msgs))) {
        fprintf(stderr, "%s: expected a non-empty JSON array of messages\n", argv[3]);
        goto out;
    }
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(it, "role"), *c = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsString(r) || !cJSON_IsString(c)) {
            fprintf(stderr, "%s: message %d needs string role and content\n", argv[3], i);
            goto out;
        }
        msgs[i].role = r->valuestring;
        msgs[i].content = c->valuestring;
        i++;
    }
    if (smelt_chat_format(m, msgs, (size_t)n, true, &text)) {
        fprintf(stderr, "%s\n", smelt_last_error());
        goto out;
    }
    fwrite(text, 1, strlen(text), stdout);
    rc = 0;
out:
    free(text);
    free(msgs);
    cJSON_Delete(root);
    smelt_model_free(m);
    free(tmpl);
    free(json);
    return rc;
}
