/* smelt pull / inspect / tokenize */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "smelt/gguf.h"
#include "smelt/hub.h"
#include "smelt/tok.h"

int cmd_pull(int argc, char **argv) {
    struct cli_opts o;
    if (!cli_parse(argc, argv, 2, "l", &o, "pull")) return 2;
    if (o.list) {
        size_t nk;
        const struct smelt_hub_model *known = smelt_hub_list(&nk);
        for (size_t i = 0; i < nk; i++) printf("%s\n", known[i].name);
        return 0;
    }
    if (o.n_positional != 1) {
        cli_error("usage: smelt pull NAME   (smelt pull --list shows the known names)");
        return 2;
    }
    if (smelt_hub_pull(o.positional[0], true)) {
        cli_error("%s", smelt_last_error());
        return 1;
    }
    char *path = NULL;
    if (smelt_hub_resolve(o.positional[0], &path) == SMELT_OK) {
        fprintf(stderr, "smelt: %s is at %s\n", o.positional[0], path);
        free(path);
    }
    return 0;
}

int cmd_inspect(int argc, char **argv) {
    struct cli_opts o;
    if (!cli_parse(argc, argv, 2, "m", &o, "inspect")) return 2;
    const char *name = o.n_positional ? o.positional[0] : o.model;
    if (!name) {
        cli_error("usage: smelt inspect MODEL");
        return 2;
    }
    char *path = NULL;
    if (smelt_hub_resolve(name, &path)) {
        cli_error("%s", smelt_last_error());
        return 1;
    }
    struct smelt_gguf *g = NULL;
    enum smelt_status st = smelt_gguf_open(path, &g);
    free(path);
    if (st) {
        cli_error("%s", smelt_last_error());
        return 1;
    }
    st = smelt_gguf_print(g, stdout);
    smelt_gguf_free(g);
    return st ? 1 : 0;
}

int cmd_tokenize(int argc, char **argv) {
    struct cli_opts o;
    if (!cli_parse(argc, argv, 2, "mk", &o, "tokenize")) return 2;
    /* the vocabulary only (like llama-tokenize): no weights are read or packed */
    char *path = NULL;
    if (!cli_model_path(&o, &path)) return 1;
    struct smelt_gguf *g = NULL;
    struct smelt_tok *t = NULL;
    enum smelt_status st = smelt_gguf_open(path, &g);
    free(path);
    if (!st) st = smelt_tok_from_gguf(g, &t);
    if (st) {
        cli_error("%s", smelt_last_error());
        smelt_gguf_free(g);
        return 1;
    }
    size_t len;
    char *text = cli_read_file("-", &len);
    if (!text) {
        smelt_tok_free(t);
        smelt_gguf_free(g);
        return 1;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    st = smelt_tok_encode(t, text, len, !o.no_special, !o.no_parse_special, &ids, &n);
    int rc = 0;
    if (st) {
        cli_error("%s", smelt_last_error());
        rc = 1;
    } else {
        for (size_t i = 0; i < n; i++) {
            if (o.ids) {
                printf("%d\n", ids[i]);
            } else {
                char piece[256];
                size_t pl;
                smelt_tok_piece(t, ids[i], true, piece, sizeof piece, &pl);
                if (pl > sizeof piece) pl = sizeof piece;
                printf("%6d -> '%.*s'\n", ids[i], (int)pl, piece);
            }
        }
    }
    free(ids);
    free(text);
    smelt_tok_free(t);
    smelt_gguf_free(g);
    return rc;
}
