/* tmpl_render: render a chat template with a JSON context, print the result.
 *
 *   tmpl_render [--api] TEMPLATE_FILE CONTEXT_JSON_FILE
 *
 * Default: smelt_tmpl_render_json (the whole JSON object is the context).
 * --api: smelt_tmpl_render with messages[].role/content, add_generation_prompt,
 *        bos_token and eos_token taken from the JSON (the struct API path).
 * Exit status: 0 rendered (bytes on stdout), 2 template error (message on
 * stderr, first line "ERROR <status>: <message>"), 1 usage or I/O problem.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "smelt/tok.h"

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *p = malloc(cap);
    for (;;) {
        if (!p) break;
        size_t r = fread(p + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        cap *= 2;
        char *np = realloc(p, cap);
        if (!np) {
            free(p);
            p = NULL;
        }
        p = np;
    }
    fclose(f);
    if (p) {
        char *np = realloc(p, n + 1);
        if (np) p = np;
        p[n] = 0;
        *len = n;
    }
    return p;
}

int main(int argc, char **argv) {
    int ai = 1;
    int api = 0;
    if (ai < argc && strcmp(argv[ai], "--api") == 0) api = 1, ai++;
    if (argc - ai != 2) {
        fprintf(stderr, "usage: %s [--api] TEMPLATE_FILE CONTEXT_JSON_FILE\n", argv[0]);
        return 1;
    }
    size_t tlen, jlen;
    char *tsrc = slurp(argv[ai], &tlen);
    char *json = slurp(argv[ai + 1], &jlen);
    if (!tsrc || !json) {
        fprintf(stderr, "cannot read input files\n");
        return 1;
    }
    struct smelt_tmpl *t = NULL;
    char *out = NULL;
    size_t olen = 0;
    enum smelt_status st = smelt_tmpl_parse(tsrc, tlen, &t);
    if (st == SMELT_OK && !api) {
        st = smelt_tmpl_render_json(t, json, jlen, &out, &olen);
    } else if (st == SMELT_OK) {
        cJSON *root = cJSON_ParseWithLength(json, jlen);
        if (!root) {
            fprintf(stderr, "bad JSON\n");
            return 1;
        }
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(root, "messages");
        size_t n = (size_t)cJSON_GetArraySize(ms);
        struct smelt_chat_msg *msgs = calloc(n ? n : 1, sizeof *msgs);
        size_t i = 0;
        const cJSON *m;
        cJSON_ArrayForEach(m, ms) {
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role");
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
            msgs[i].role = cJSON_IsString(r) ? r->valuestring : "";
            msgs[i].content = cJSON_IsString(c) ? c->valuestring : NULL;
            i++;
        }
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(root, "add_generation_prompt");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "bos_token");
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "eos_token");
        st = smelt_tmpl_render(t, msgs, n, cJSON_IsTrue(g), cJSON_IsString(b) ? b->valuestring : NULL,
                               cJSON_IsString(e) ? e->valuestring : NULL, &out, &olen);
        free(msgs);
        cJSON_Delete(root);
    }
    int rc = 0;
    if (st != SMELT_OK) {
        fprintf(stderr, "ERROR %s: %s\n", smelt_status_str(st), smelt_last_error());
        rc = 2;
    } else {
        fwrite(out, 1, olen, stdout);
        if (out[olen] != 0) { /* the result must be NUL-terminated */
            fprintf(stderr, "output is not NUL-terminated\n");
            rc = 1;
        }
    }
    free(out);
    smelt_tmpl_free(t);
    free(tsrc);
    free(json);
    return rc;
}
