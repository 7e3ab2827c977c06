/* Internal interface of the chat-template engine (a Jinja subset).
 *
 * tmpl_parse.c: source normalisation, lexer (with jinja2's trim_blocks /
 *               lstrip_blocks / "-" "+" whitespace control) and parser -> AST.
 * tmpl_eval.c:  values with Python semantics, evaluator, filters, tests,
 *               string methods, and the public smelt_tmpl_render*().
 *
 * Memory: the AST lives in the template's arena; every value made while
 * rendering lives in a per-render arena freed when the render ends. Values are
 * immutable except namespace objects, so they are shared freely.
 * Internal symbols shared between the two files carry the smelt_tmpli_ prefix.
 */
#ifndef SMELT_TOK_TMPL_INT_H
#define SMELT_TOK_TMPL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "smelt/tok.h"

/* ---- arena ------------------------------------------------------------ */
struct tmpl_chunk;
struct tmpl_arena {
    struct tmpl_chunk *head;
    size_t total; /* bytes handed out so far */
    size_t cap;   /* limit on total; allocation beyond it fails */
};
/* Zeroed memory, 16-byte aligned; NULL (and smelt_err NOMEM) past the cap. */
void *smelt_tmpli_alloc(struct tmpl_arena *a, size_t n);
void smelt_tmpli_arena_free(struct tmpl_arena *a);

/* ---- values ----------------------------------------------------------- */
enum tmpl_vtype {
    TV_UNDEF = 0, /* jinja2 Undefined; s holds the name for messages */
    TV_NONE,
    TV_BOOL,
    TV_INT,
    TV_FLOAT,
    TV_STR,
    TV_LIST,   /* list or tuple (flag TVF_TUPLE) */
    TV_DICT,   /* ordered dict */
    TV_NS,     /* namespace(): mutable attribute bag (uses d) */
    TV_LOOP,   /* the `loop` object of a for loop */
    TV_MACRO,  /* user macro */
    TV_FUNC,   /* builtin global function (fn = id) */
    TV_METHOD, /* bound method of a str/dict/loop (meth) */
};
#define TVF_TUPLE 1u

struct tmpl_list;
struct tmpl_dict;
struct tmpl_loop;
struct tmpl_method;
struct tmpl_node;

struct tmpl_val {
    uint8_t t;
    uint8_t flags;
    uint16_t fn;
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *p;
            size_t n;
        } s;
        struct tmpl_list *l;
        struct tmpl_dict *d;
        struct tmpl_loop *lp;
        const struct tmpl_node *m;
        struct tmpl_method *meth;
    } u;
};

struct tmpl_list {
    size_t n, cap;
    struct tmpl_val *v;
};
struct tmpl_kv {
    struct tmpl_val k, v;
};
struct tmpl_dict {
    size_t n, cap;
    struct tmpl_kv *kv;
};

/* ---- AST ---------------------------------------------------------------- */
enum tmpl_nkind {
    /* statements */
    TN_TEXT = 1, /* lit = string */
    TN_OUT,      /* {{ a }} */
    TN_IF,       /* a = cond, body, orelse */
    TN_FOR,      /* args = targets (TE_NAME), a = iterable, b = filter, body, orelse */
    TN_SET,      /* args[0] = target (TE_NAME / TE_ATTR / TE_TUPLE), a = value */
    TN_SETBLOCK, /* args[0] = target, body */
    TN_MACRO,    /* name, args = params (TE_NAME, a = default or NULL), body */
    TN_BREAK,
    TN_CONTINUE,
    TN_BLOCK, /* body (e.g. {% generation %}) */
    /* expressions */
    TE_LIT, /* lit */
    TE_NAME,
    TE_LIST,  /* args */
    TE_TUPLE, /* args */
    TE_DICT,  /* args: key, value, key, value ... */
    TE_ATTR,  /* a . name */
    TE_ITEM,  /* a [ b ] */
    TE_SLICE, /* a [ args[0] : args[1] : args[2] ] (NULL = omitted) */
    TE_CALL,  /* a ( args ) ; argnames[i] != NULL for keyword args */
    TE_FILTER,/* a | name ( args ) */
    TE_TEST,  /* a is [not] name ( args ) ; op = 1 for `is not` */
    TE_NEG,
    TE_POS,
    TE_NOT,
    TE_BIN,   /* op: one of enum tmpl_binop */
    TE_AND,
    TE_OR,
    TE_COND,  /* b if a else c (c may be NULL) */
};

enum tmpl_binop {
    TB_ADD = 1, TB_SUB, TB_MUL, TB_DIV, TB_FLOORDIV, TB_MOD, TB_POW, TB_CONCAT,
    TB_EQ, TB_NE, TB_LT, TB_LE, TB_GT, TB_GE, TB_IN, TB_NOTIN,
};

struct tmpl_node {
    uint8_t kind;
    uint8_t op;
    int line;
    const char *name; /* NUL-terminated (names, attributes, filters, tests, macros) */
    struct tmpl_node *a, *b, *c;
    struct tmpl_node **args;
    const char **argnames;
    size_t nargs;
    struct tmpl_node *body, *orelse; /* statement lists */
    struct tmpl_node *next;          /* next statement */
    struct tmpl_val lit;
};

struct smelt_tmpl {
    struct tmpl_arena ar;
    struct tmpl_node *root;
};

/* Parse into t (t->ar must be set up); returns a status and sets smelt_err. */
enum smelt_status smelt_tmpli_parse(struct smelt_tmpl *t, const char *src, size_t len);

/* Is `name` one of jinja2's builtin filters (test=false) or tests (test=true)?
 * jinja2 rejects unknown names when compiling, so the parser does too. */
bool smelt_tmpli_known(const char *name, bool test);

/* UTF-8 helpers shared by both files. */
/* Decode one code point at s[0..n); returns its byte length (>= 1) or 0 if invalid. */
size_t smelt_tmpli_utf8_dec(const char *s, size_t n, uint32_t *cp);
/* Python str.isspace() for one code point. */
bool smelt_tmpli_isspace(uint32_t cp);

/* Limits (untrusted templates). */
#define TMPL_MAX_SRC ((size_t)4 << 20)      /* template source bytes */
#define TMPL_MAX_PARSE_DEPTH 200            /* nesting of expressions/blocks */
#define TMPL_MAX_OUT ((size_t)32 << 20)     /* rendered output bytes */
#define TMPL_MAX_ARENA ((size_t)128 << 20)  /* memory of one render */
#define TMPL_MAX_STEPS 50000000ull          /* evaluation steps of one render */
#define TMPL_MAX_CALL_DEPTH 64              /* macro call nesting */
#define TMPL_MAX_RANGE 100000               /* as jinja2's sandbox MAX_RANGE */

#endif
