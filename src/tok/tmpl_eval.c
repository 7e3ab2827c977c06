/* Chat templates: values with Python semantics, evaluator, filters, tests,
 * methods and the public API (see tmpl_int.h, include/smelt/tok.h).
 *
 * The behaviour mirrors what Hugging Face transformers renders:
 * jinja2 ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
 * extensions=[loopcontrols, generation]) with globals raise_exception and the
 * `tojson` filter replaced by json.dumps(x, ensure_ascii=False, indent=None,
 * separators=None, sort_keys=False) -- no HTML escaping, keys not sorted.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <utf8proc.h>

#include "tok/tmpl_int.h"

typedef struct tmpl_val val;

/* ---- render context ------------------------------------------------------ */
struct sbuf {
    char *p;
    size_t n, cap;
};

struct frame {
    struct frame *parent;
    struct tmpl_dict vars;
};

struct tmpl_loop {
    size_t index0, length;
    struct tmpl_list *items;
};

struct tmpl_method {
    val self;
    int id;
    const struct tmpl_node *node; /* macros */
    struct frame *frame;          /* macros: defining scope */
};

struct rctx {
    struct tmpl_arena ar;
    struct sbuf *out;
    struct frame *top;
    uint64_t steps;
    int call_depth;
    int ctl; /* 1 break, 2 continue */
    int line;
    enum smelt_status st;
};

static int rerr(struct rctx *c, const char *fmt, ...) SMELT_PRINTF(2, 3);
static int rerr(struct rctx *c, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->st = SMELT_ERR_FORMAT;
    smelt_err(SMELT_ERR_FORMAT, "template:%d: %s", c->line, msg);
    return -1;
}

static int rlimit(struct rctx *c, const char *what) {
    c->st = SMELT_ERR_RANGE;
    smelt_err(SMELT_ERR_RANGE, "template:%d: %s", c->line, what);
    return -1;
}

static void *ralloc(struct rctx *c, size_t n) {
    void *p = smelt_tmpli_alloc(&c->ar, n);
    if (!p) c->st = SMELT_ERR_NOMEM;
    return p;
}

static int sb_put(struct rctx *c, struct sbuf *b, const char *p, size_t n) {
    if (n == 0) return 0;
    if (b->n + n > TMPL_MAX_OUT) return rlimit(c, "output size limit reached");
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            c->st = SMELT_ERR_NOMEM;
            smelt_err(SMELT_ERR_NOMEM, "template: out of memory");
            return -1;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}
static int sb_puts(struct rctx *c, struct sbuf *b, const char *s) { return sb_put(c, b, s, strlen(s)); }

/* ---- value constructors -------------------------------------------------- */
static val v_undef(const char *name) {
    val v = {0};
    v.t = TV_UNDEF;
    v.u.s.p = name;
    v.u.s.n = name ? strlen(name) : 0;
    return v;
}
static val v_none(void) {
    val v = {0};
    v.t = TV_NONE;
    return v;
}
static val v_bool(bool b) {
    val v = {0};
    v.t = TV_BOOL;
    v.u.b = b;
    return v;
}
static val v_int(int64_t i) {
    val v = {0};
    v.t = TV_INT;
    v.u.i = i;
    return v;
}
static val v_float(double f) {
    val v = {0};
    v.t = TV_FLOAT;
    v.u.f = f;
    return v;
}
static val v_str(const char *p, size_t n) {
    val v = {0};
    v.t = TV_STR;
    v.u.s.p = p;
    v.u.s.n = n;
    return v;
}

static int str_copy(struct rctx *c, const char *p, size_t n, val *out) {
    char *s = ralloc(c, n + 1);
    if (!s) return -1;
    if (n) memcpy(s, p, n);
    *out = v_str(s, n);
    return 0;
}
/* Move a built buffer into the arena as a string value and release it. */
static int sb_finish(struct rctx *c, struct sbuf *b, val *out) {
    int r = str_copy(c, b->p ? b->p : "", b->n, out);
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
    return r;
}

static struct tmpl_list *list_new(struct rctx *c, size_t cap) {
    struct tmpl_list *l = ralloc(c, sizeof *l);
    if (!l) return NULL;
    if (cap) {
        size_t bytes;
        if (!smelt_mul_ok(cap, sizeof(val), &bytes)) {
            rlimit(c, "list too large");
            return NULL;
        }
        if (!(l->v = ralloc(c, bytes))) return NULL;
        l->cap = cap;
    }
    return l;
}
static int list_push(struct rctx *c, struct tmpl_list *l, val v) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4;
        val *nv = ralloc(c, nc * sizeof *nv);
        if (!nv) return -1;
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = v;
    return 0;
}
static val v_list(struct tmpl_list *l, bool tuple) {
    val v = {0};
    v.t = TV_LIST;
    v.flags = tuple ? TVF_TUPLE : 0;
    v.u.l = l;
    return v;
}

static bool veq(val a, val b);

static val *dict_find(struct tmpl_dict *d, val k) {
    for (size_t i = 0; i < d->n; i++)
        if (veq(d->kv[i].k, k)) return &d->kv[i].v;
    return NULL;
}
static val *dict_find_str(struct tmpl_dict *d, const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < d->n; i++) {
        val *k = &d->kv[i].k;
        if (k->t == TV_STR && k->u.s.n == n && memcmp(k->u.s.p, s, n) == 0) return &d->kv[i].v;
    }
    return NULL;
}
static int dict_set(struct rctx *c, struct tmpl_dict *d, val k, val v) {
    val *e = dict_find(d, k);
    if (e) {
        *e = v;
        return 0;
    }
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 4;
        struct tmpl_kv *nkv = ralloc(c, nc * sizeof *nkv);
        if (!nkv) return -1;
        if (d->n) memcpy(nkv, d->kv, d->n * sizeof *nkv);
        d->kv = nkv;
        d->cap = nc;
    }
    d->kv[d->n].k = k;
    d->kv[d->n].v = v;
    d->n++;
    return 0;
}
static int dict_set_str(struct rctx *c, struct tmpl_dict *d, const char *k, val v) {
    return dict_set(c, d, v_str(k, strlen(k)), v);
}

/* ---- UTF-8 / unicode helpers ------------------------------------------- */
static size_t u8len(const char *p, size_t n) { /* number of code points */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)p[i] & 0xC0) != 0x80) k++;
    return k;
}
static size_t u8next(const char *p, size_t n, size_t i) {
    i++;
    while (i < n && ((unsigned char)p[i] & 0xC0) == 0x80) i++;
    return i;
}
static uint32_t u8at(const char *p, size_t n, size_t i) {
    uint32_t cp = 0xFFFD;
    smelt_tmpli_utf8_dec(p + i, n - i, &cp);
    return cp;
}
/* byte offsets of each code point (+ end), arena-allocated */
static size_t *u8index(struct rctx *c, const char *p, size_t n, size_t *count) {
    size_t k = u8len(p, n);
    size_t *ix = ralloc(c, (k + 1) * sizeof *ix);
    if (!ix) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i = u8next(p, n, i)) ix[j++] = i;
    ix[k] = n;
    *count = k;
    return ix;
}
static int put_cp(struct rctx *c, struct sbuf *b, uint32_t cp) {
    utf8proc_uint8_t tmp[4];
    utf8proc_ssize_t l = utf8proc_encode_char((utf8proc_int32_t)cp, tmp);
    return sb_put(c, b, (const char *)tmp, (size_t)l);
}
static bool is_cased(uint32_t cp) {
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
    return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL ||
           cat == UTF8PROC_CATEGORY_LT;
}
/* case conversions; 'U' upper, 'L' lower, 'T' title (single code point) */
static int put_case(struct rctx *c, struct sbuf *b, uint32_t cp, char mode) {
    if (mode == 'U' && cp == 0xDF) return sb_puts(c, b, "SS");
    if (mode == 'T' && cp == 0xDF) return sb_puts(c, b, "Ss");
    utf8proc_int32_t r = mode == 'U'   ? utf8proc_toupper((utf8proc_int32_t)cp)
                         : mode == 'L' ? utf8proc_tolower((utf8proc_int32_t)cp)
                                       : utf8proc_totitle((utf8proc_int32_t)cp);
    return put_cp(c, b, (uint32_t)r);
}

/* ---- conversions to text ----------------------------------------------- */
/* Python repr(float) */
static void fmt_float(double f, char *buf, size_t cap) {
    if (isnan(f)) {
        snprintf(buf, cap, "nan");
        return;
    }
    if (isinf(f)) {
        snprintf(buf, cap, f < 0 ? "-inf" : "inf");
        return;
    }
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp = [-]d.ddde[+-]XX */
    char digits[24];
    size_t nd = 0;
    const char *q = tmp;
    bool neg = false;
    if (*q == '-') neg = true, q++;
    for (; *q && *q != 'e'; q++)
        if (*q != '.') digits[nd++] = *q;
    int exp = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    size_t o = 0;
    if (neg) buf[o++] = '-';
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            buf[o++] = '0';
            buf[o++] = '.';
            for (int z = 0; z < -exp - 1; z++) buf[o++] = '0';
            for (size_t k = 0; k < nd; k++) buf[o++] = digits[k];
        } else {
            for (int k = 0; k <= exp; k++) buf[o++] = (size_t)k < nd ? digits[k] : '0';
            buf[o++] = '.';
            if ((size_t)exp + 1 < nd)
                for (size_t k = (size_t)exp + 1; k < nd; k++) buf[o++] = digits[k];
            else
                buf[o++] = '0';
        }
        buf[o] = 0;
    } else {
        buf[o++] = digits[0];
        if (nd > 1) {
            buf[o++] = '.';
            for (size_t k = 1; k < nd; k++) buf[o++] = digits[k];
        }
        snprintf(buf + o, cap - o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
}

static int repr(struct rctx *c, val v, struct sbuf *b, int depth);

/* Python str() */
static int to_text(struct rctx *c, val v, struct sbuf *b, int depth) {
    char num[64];
    switch (v.t) {
    case TV_UNDEF: return 0;
    case TV_NONE: return sb_puts(c, b, "None");
    case TV_BOOL: return sb_puts(c, b, v.u.b ? "True" : "False");
    case TV_INT: snprintf(num, sizeof num, "%lld", (long long)v.u.i); return sb_puts(c, b, num);
    case TV_FLOAT: fmt_float(v.u.f, num, sizeof num); return sb_puts(c, b, num);
    case TV_STR: return sb_put(c, b, v.u.s.p, v.u.s.n);
    default: return repr(c, v, b, depth);
    }
}

static int repr_str(struct rctx *c, const char *p, size_t n, struct sbuf *b) {
    bool has_sq = memchr(p, '\'', n) != NULL, has_dq = memchr(p, '"', n) != NULL;
    char q = (has_sq && !has_dq) ? '"' : '\'';
    if (sb_put(c, b, &q, 1)) return -1;
    for (size_t i = 0; i < n;) {
        uint32_t cp = u8at(p, n, i);
        size_t ni = u8next(p, n, i);
        char esc[16];
        const char *e = NULL;
        if (cp == (uint32_t)q || cp == '\\') {
            esc[0] = '\\';
            esc[1] = (char)cp;
            esc[2] = 0;
            e = esc;
        } else if (cp == '\n') e = "\\n";
        else if (cp == '\r') e = "\\r";
        else if (cp == '\t') e = "\\t";
        else if (cp < 0x20 || cp == 0x7F) {
            snprintf(esc, sizeof esc, "\\x%02x", cp);
            e = esc;
        } else if (cp >= 0x80) {
            utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
            bool printable = !(cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
                               cat == UTF8PROC_CATEGORY_CS || cat == UTF8PROC_CATEGORY_CO ||
                               cat == UTF8PROC_CATEGORY_CN || cat == UTF8PROC_CATEGORY_ZL ||
                               cat == UTF8PROC_CATEGORY_ZP || cat == UTF8PROC_CATEGORY_ZS);
            if (!printable) {
                if (cp < 0x100) snprintf(esc, sizeof esc, "\\x%02x", cp);
                else if (cp < 0x10000) snprintf(esc, sizeof esc, "\\u%04x", cp);
                else snprintf(esc, sizeof esc, "\\U%08x", cp);
                e = esc;
            }
        }
        if (e ? sb_puts(c, b, e) : sb_put(c, b, p + i, ni - i)) return -1;
        i = ni;
    }
    return sb_put(c, b, &q, 1);
}

static int repr(struct rctx *c, val v, struct sbuf *b, int depth) {
    if (depth > 100) return rlimit(c, "value nesting too deep");
    switch (v.t) {
    case TV_UNDEF: return sb_puts(c, b, "Undefined");
    case TV_STR: return repr_str(c, v.u.s.p, v.u.s.n, b);
    case TV_LIST: {
        bool tu = v.flags & TVF_TUPLE;
        if (sb_puts(c, b, tu ? "(" : "[")) return -1;
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i && sb_puts(c, b, ", ")) return -1;
            if (repr(c, v.u.l->v[i], b, depth + 1)) return -1;
        }
        if (tu && v.u.l->n == 1 && sb_puts(c, b, ",")) return -1;
        return sb_puts(c, b, tu ? ")" : "]");
    }
    case TV_DICT:
    case TV_NS: {
        if (v.t == TV_NS && sb_puts(c, b, "<Namespace ")) return -1;
        if (sb_puts(c, b, "{")) return -1;
        for (size_t i = 0; i < v.u.d->n; i++) {
            if (i && sb_puts(c, b, ", ")) return -1;
            if (repr(c, v.u.d->kv[i].k, b, depth + 1) || sb_puts(c, b, ": ") ||
                repr(c, v.u.d->kv[i].v, b, depth + 1))
                return -1;
        }
        if (sb_puts(c, b, "}")) return -1;
        return v.t == TV_NS ? sb_puts(c, b, ">") : 0;
    }
    case TV_LOOP: return sb_puts(c, b, "<LoopContext>");
    case TV_MACRO:
        return sb_puts(c, b, "<Macro '") || sb_puts(c, b, v.u.meth->node->name) ||
               sb_puts(c, b, "'>");
    case TV_FUNC:
    case TV_METHOD: return sb_puts(c, b, "<built-in method>");
    default: return to_text(c, v, b, depth);
    }
}

/* str(v) as a string value (no copy when v is already a string) */
static int to_str_val(struct rctx *c, val v, val *out) {
    if (v.t == TV_STR) {
        *out = v;
        return 0;
    }
    struct sbuf b = {0};
    if (to_text(c, v, &b, 0)) {
        free(b.p);
        return -1;
    }
    return sb_finish(c, &b, out);
}

/* ---- truthiness, equality, ordering ------------------------------------- */
static bool truthy(val v) {
    switch (v.t) {
    case TV_UNDEF:
    case TV_NONE: return false;
    case TV_BOOL: return v.u.b;
    case TV_INT: return v.u.i != 0;
    case TV_FLOAT: return v.u.f != 0.0;
    case TV_STR: return v.u.s.n != 0;
    case TV_LIST: return v.u.l->n != 0;
    case TV_DICT: return v.u.d->n != 0;
    default: return true;
    }
}

static bool is_num(val v) { return v.t == TV_INT || v.t == TV_FLOAT || v.t == TV_BOOL; }
static double num_f(val v) {
    return v.t == TV_FLOAT ? v.u.f : v.t == TV_INT ? (double)v.u.i : (double)v.u.b;
}
static int64_t num_i(val v) { return v.t == TV_INT ? v.u.i : v.t == TV_BOOL ? (int64_t)v.u.b : 0; }

static bool veq(val a, val b) {
    if (is_num(a) && is_num(b)) {
        if (a.t == TV_FLOAT || b.t == TV_FLOAT) return num_f(a) == num_f(b);
        return num_i(a) == num_i(b);
    }
    if (a.t != b.t) return false;
    switch (a.t) {
    case TV_UNDEF:
    case TV_NONE: return true;
    case TV_STR: return a.u.s.n == b.u.s.n && memcmp(a.u.s.p, b.u.s.p, a.u.s.n) == 0;
    case TV_LIST:
        if ((a.flags & TVF_TUPLE) != (b.flags & TVF_TUPLE) || a.u.l->n != b.u.l->n) return false;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!veq(a.u.l->v[i], b.u.l->v[i])) return false;
        return true;
    case TV_DICT:
        if (a.u.d->n != b.u.d->n) return false;
        for (size_t i = 0; i < a.u.d->n; i++) {
            val *o = dict_find(b.u.d, a.u.d->kv[i].k);
            if (!o || !veq(a.u.d->kv[i].v, *o)) return false;
        }
        return true;
    case TV_NS: return a.u.d == b.u.d;
    case TV_LOOP: return a.u.lp == b.u.lp;
    case TV_MACRO:
    case TV_METHOD: return a.u.meth == b.u.meth;
    case TV_FUNC: return a.fn == b.fn;
    default: return false;
    }
}

static const char *type_name(val v) {
    switch (v.t) {
    case TV_UNDEF: return "Undefined";
    case TV_NONE: return "NoneType";
    case TV_BOOL: return "bool";
    case TV_INT: return "int";
    case TV_FLOAT: return "float";
    case TV_STR: return "str";
    case TV_LIST: return v.flags & TVF_TUPLE ? "tuple" : "list";
    case TV_DICT: return "dict";
    case TV_NS: return "Namespace";
    case TV_LOOP: return "LoopContext";
    case TV_MACRO: return "Macro";
    default: return "builtin_function_or_method";
    }
}

/* a < b (Python); sets *lt. Errors for unorderable types. */
static int vlt(struct rctx *c, val a, val b, bool *lt) {
    if (is_num(a) && is_num(b)) {
        if (a.t == TV_FLOAT || b.t == TV_FLOAT) *lt = num_f(a) < num_f(b);
        else *lt = num_i(a) < num_i(b);
        return 0;
    }
    if (a.t == TV_STR && b.t == TV_STR) {
        size_t m = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        int r = memcmp(a.u.s.p, b.u.s.p, m);
        *lt = r < 0 || (r == 0 && a.u.s.n < b.u.s.n);
        return 0;
    }
    if (a.t == TV_LIST && b.t == TV_LIST && (a.flags & TVF_TUPLE) == (b.flags & TVF_TUPLE)) {
        size_t i = 0;
        while (i < a.u.l->n && i < b.u.l->n && veq(a.u.l->v[i], b.u.l->v[i])) i++;
        if (i < a.u.l->n && i < b.u.l->n) return vlt(c, a.u.l->v[i], b.u.l->v[i], lt);
        *lt = a.u.l->n < b.u.l->n;
        return 0;
    }
    if (a.t == TV_UNDEF || b.t == TV_UNDEF)
        return rerr(c, "'%s' is undefined", a.t == TV_UNDEF ? a.u.s.p ? a.u.s.p : "value"
                                                              : b.u.s.p ? b.u.s.p : "value");
    return rerr(c, "'<' not supported between instances of '%s' and '%s'", type_name(a),
                type_name(b));
}

static int undef_err(struct rctx *c, val v) {
    if (v.u.s.p) return rerr(c, "'%.*s' is undefined", (int)v.u.s.n, v.u.s.p);
    return rerr(c, "value is undefined");
}

/* ---- iteration --------------------------------------------------------- */
/* Materialise an iterable as a list (str -> characters, dict -> keys). */
static int iter_list(struct rctx *c, val v, struct tmpl_list **out) {
    switch (v.t) {
    case TV_LIST: *out = v.u.l; return 0;
    case TV_UNDEF: return (*out = list_new(c, 0)) ? 0 : -1;
    case TV_DICT: {
        struct tmpl_list *l = list_new(c, v.u.d->n);
        if (!l) return -1;
        for (size_t i = 0; i < v.u.d->n; i++) l->v[l->n++] = v.u.d->kv[i].k;
        *out = l;
        return 0;
    }
    case TV_STR: {
        struct tmpl_list *l = list_new(c, u8len(v.u.s.p, v.u.s.n));
        if (!l) return -1;
        for (size_t i = 0; i < v.u.s.n;) {
            size_t ni = u8next(v.u.s.p, v.u.s.n, i);
            l->v[l->n++] = v_str(v.u.s.p + i, ni - i);
            i = ni;
        }
        *out = l;
        return 0;
    }
    default: return rerr(c, "'%s' object is not iterable", type_name(v));
    }
}

/* ---- arguments ---------------------------------------------------------- */
struct args {
    val *pos;
    size_t npos;
    const char **kwn;
    val *kwv;
    size_t nkw;
};

/* Argument `idx` (positional) or keyword `name`; returns false if absent. */
static bool arg(const struct args *a, size_t idx, const char *name, val *out) {
    if (idx < a->npos) {
        *out = a->pos[idx];
        return true;
    }
    for (size_t i = 0; name && i < a->nkw; i++)
        if (strcmp(a->kwn[i], name) == 0) {
            *out = a->kwv[i];
            return true;
        }
    return false;
}

/* ---- evaluation forward decls ------------------------------------------ */
static int eval(struct rctx *c, struct frame *f, const struct tmpl_node *n, val *out);
static int exec_body(struct rctx *c, struct frame *f, const struct tmpl_node *n);
static int call_value(struct rctx *c, val fnv, struct args *a, val *out);
static int apply_test(struct rctx *c, const char *name, val v, struct args *a, bool *res);
static int apply_filter(struct rctx *c, struct frame *f, const char *name, val v, struct args *a,
                        val *out);

static int step(struct rctx *c) {
    if (++c->steps > TMPL_MAX_STEPS) return rlimit(c, "evaluation step limit reached");
    return 0;
}

/* ---- attribute / item access ------------------------------------------- */
enum {
    M_NONE = 0,
    /* str */
    M_STRIP, M_LSTRIP, M_RSTRIP, M_SPLIT, M_RSPLIT, M_STARTSWITH, M_ENDSWITH, M_UPPER, M_LOWER,
    M_TITLE, M_CAPITALIZE, M_REPLACE, M_JOIN, M_FIND, M_COUNT, M_SPLITLINES, M_ISSPACE,
    M_ISDIGIT, M_ISALPHA, M_ISALNUM, M_ISUPPER, M_ISLOWER, M_FORMAT,
    /* dict */
    M_ITEMS, M_KEYS, M_VALUES, M_GET,
    /* loop */
    M_CYCLE,
    /* globals */
    F_RANGE, F_NAMESPACE, F_DICT, F_RAISE,
};

static const struct {
    const char *name;
    int id;
} STR_METHODS[] = {
    {"strip", M_STRIP}, {"lstrip", M_LSTRIP}, {"rstrip", M_RSTRIP}, {"split", M_SPLIT},
    {"rsplit", M_RSPLIT}, {"startswith", M_STARTSWITH}, {"endswith", M_ENDSWITH},
    {"upper", M_UPPER}, {"lower", M_LOWER}, {"title", M_TITLE}, {"capitalize", M_CAPITALIZE},
    {"replace", M_REPLACE}, {"join", M_JOIN}, {"find", M_FIND}, {"count", M_COUNT},
    {"splitlines", M_SPLITLINES}, {"isspace", M_ISSPACE}, {"isdigit", M_ISDIGIT},
    {"isalpha", M_ISALPHA}, {"isalnum", M_ISALNUM}, {"isupper", M_ISUPPER},
    {"islower", M_ISLOWER}, {"format", M_FORMAT},
};

static int make_method(struct rctx *c, val self, int id, val *out) {
    struct tmpl_method *m = ralloc(c, sizeof *m);
    if (!m) return -1;
    m->self = self;
    m->id = id;
    memset(out, 0, sizeof *out);
    out->t = TV_METHOD;
    out->u.meth = m;
    return 0;
}

static int get_attr(struct rctx *c, val obj, const char *name, val *out) {
    *out = v_undef(name);
    if (obj.t == TV_UNDEF) return undef_err(c, obj);
    if (name[0] == '_') return 0; /* sandbox: private attributes are unsafe */
    switch (obj.t) {
    case TV_STR:
        for (size_t i = 0; i < sizeof STR_METHODS / sizeof *STR_METHODS; i++)
            if (strcmp(name, STR_METHODS[i].name) == 0) return make_method(c, obj, STR_METHODS[i].id, out);
        return 0;
    case TV_DICT: {
        int id = !strcmp(name, "items") ? M_ITEMS : !strcmp(name, "keys") ? M_KEYS
                 : !strcmp(name, "values") ? M_VALUES : !strcmp(name, "get") ? M_GET : 0;
        if (id) return make_method(c, obj, id, out);
        val *e = dict_find_str(obj.u.d, name);
        if (e) *out = *e;
        return 0;
    }
    case TV_NS: {
        val *e = dict_find_str(obj.u.d, name);
        if (e) *out = *e;
        return 0;
    }
    case TV_LOOP: {
        struct tmpl_loop *lp = obj.u.lp;
        size_t i = lp->index0, n = lp->length;
        if (!strcmp(name, "index")) *out = v_int((int64_t)i + 1);
        else if (!strcmp(name, "index0")) *out = v_int((int64_t)i);
        else if (!strcmp(name, "revindex")) *out = v_int((int64_t)(n - i));
        else if (!strcmp(name, "revindex0")) *out = v_int((int64_t)(n - i - 1));
        else if (!strcmp(name, "first")) *out = v_bool(i == 0);
        else if (!strcmp(name, "last")) *out = v_bool(i + 1 == n);
        else if (!strcmp(name, "length")) *out = v_int((int64_t)n);
        else if (!strcmp(name, "depth")) *out = v_int(1);
        else if (!strcmp(name, "depth0")) *out = v_int(0);
        else if (!strcmp(name, "previtem")) {
            if (i > 0) *out = lp->items->v[i - 1];
        } else if (!strcmp(name, "nextitem")) {
            if (i + 1 < n) *out = lp->items->v[i + 1];
        } else if (!strcmp(name, "cycle")) return make_method(c, obj, M_CYCLE, out);
        return 0;
    }
    default: return 0;
    }
}

static int get_item(struct rctx *c, val obj, val key, val *out) {
    *out = v_undef(NULL);
    switch (obj.t) {
    case TV_UNDEF: return undef_err(c, obj);
    case TV_DICT: {
        val *e = dict_find(obj.u.d, key);
        if (e) {
            *out = *e;
            return 0;
        }
        break;
    }
    case TV_LIST:
    case TV_STR:
        if (key.t == TV_INT || key.t == TV_BOOL) {
            int64_t i = num_i(key);
            if (obj.t == TV_LIST) {
                int64_t n = (int64_t)obj.u.l->n;
                if (i < 0) i += n;
                if (i >= 0 && i < n) *out = obj.u.l->v[i];
                return 0;
            }
            size_t cnt;
            size_t *ix = u8index(c, obj.u.s.p, obj.u.s.n, &cnt);
            if (!ix) return -1;
            if (i < 0) i += (int64_t)cnt;
            if (i >= 0 && i < (int64_t)cnt) *out = v_str(obj.u.s.p + ix[i], ix[i + 1] - ix[i]);
            return 0;
        }
        break;
    default: break;
    }
    if (key.t == TV_STR) {
        char *nm = ralloc(c, key.u.s.n + 1);
        if (!nm) return -1;
        memcpy(nm, key.u.s.p, key.u.s.n);
        if (obj.t == TV_DICT) { /* obj[key] failed: try attribute (methods) */
            int id = !strcmp(nm, "items") ? M_ITEMS : !strcmp(nm, "keys") ? M_KEYS
                     : !strcmp(nm, "values") ? M_VALUES : !strcmp(nm, "get") ? M_GET : 0;
            if (id) return make_method(c, obj, id, out);
            *out = v_undef(nm);
            return 0;
        }
        return get_attr(c, obj, nm, out);
    }
    return 0;
}

/* Python slice index adjustment */
static void slice_idx(int64_t len, const val *sv, bool has[3], int64_t *start, int64_t *stop,
                      int64_t *stepv) {
    int64_t st = has[2] ? num_i(sv[2]) : 1;
    *stepv = st;
    int64_t lo, hi;
    if (st > 0) lo = 0, hi = len;
    else lo = -1, hi = len - 1;
    int64_t a, b;
    if (!has[0]) a = st > 0 ? lo : hi;
    else {
        a = num_i(sv[0]);
        if (a < 0) {
            a += len;
            if (a < lo) a = lo;
        } else if (a > hi) a = hi;
    }
    if (!has[1]) b = st > 0 ? hi : lo;
    else {
        b = num_i(sv[1]);
        if (b < 0) {
            b += len;
            if (b < lo) b = lo;
        } else if (b > hi) b = hi;
    }
    *start = a;
    *stop = b;
}

static int do_slice(struct rctx *c, val obj, val *sv, bool has[3], val *out) {
    for (int k = 0; k < 3; k++) {
        if (has[k] && sv[k].t == TV_NONE) has[k] = false;
        if (has[k] && sv[k].t != TV_INT && sv[k].t != TV_BOOL)
            return rerr(c, "slice indices must be integers or None");
    }
    if (has[2] && num_i(sv[2]) == 0) return rerr(c, "slice step cannot be zero");
    if (obj.t == TV_UNDEF) return undef_err(c, obj);
    if (obj.t == TV_LIST) {
        int64_t a, b, s;
        slice_idx((int64_t)obj.u.l->n, sv, has, &a, &b, &s);
        struct tmpl_list *l = list_new(c, 0);
        if (!l) return -1;
        for (int64_t i = a; s > 0 ? i < b : i > b; i += s)
            if (list_push(c, l, obj.u.l->v[i])) return -1;
        *out = v_list(l, obj.flags & TVF_TUPLE);
        return 0;
    }
    if (obj.t == TV_STR) {
        size_t cnt;
        size_t *ix = u8index(c, obj.u.s.p, obj.u.s.n, &cnt);
        if (!ix) return -1;
        int64_t a, b, s;
        slice_idx((int64_t)cnt, sv, has, &a, &b, &s);
        if (s == 1) {
            if (b < a) b = a;
            *out = v_str(obj.u.s.p + ix[a], ix[b] - ix[a]);
            return 0;
        }
        struct sbuf sb = {0};
        for (int64_t i = a; s > 0 ? i < b : i > b; i += s)
            if (sb_put(c, &sb, obj.u.s.p + ix[i], ix[i + 1] - ix[i])) {
                free(sb.p);
                return -1;
            }
        return sb_finish(c, &sb, out);
    }
    if (obj.t == TV_DICT) return rerr(c, "unhashable type: 'slice'");
    *out = v_undef(NULL);
    return 0;
}

/* ---- arithmetic ---------------------------------------------------------- */
static int binop(struct rctx *c, int op, val a, val b, val *out) {
    if (op == TB_CONCAT) {
        struct sbuf sb = {0};
        if (to_text(c, a, &sb, 0) || to_text(c, b, &sb, 0)) {
            free(sb.p);
            return -1;
        }
        return sb_finish(c, &sb, out);
    }
    if (op == TB_EQ || op == TB_NE) {
        bool e = veq(a, b);
        *out = v_bool(op == TB_EQ ? e : !e);
        return 0;
    }
    if (op == TB_LT || op == TB_GT || op == TB_LE || op == TB_GE) {
        bool r;
        if (op == TB_LT || op == TB_GE) {
            if (vlt(c, a, b, &r)) return -1;
        } else {
            if (vlt(c, b, a, &r)) return -1;
        }
        if (op == TB_GE || op == TB_LE) r = !r;
        /* for floats with NaN the inversion is not exact; ignore */
        *out = v_bool(r);
        return 0;
    }
    if (op == TB_IN || op == TB_NOTIN) {
        bool r = false;
        if (b.t == TV_STR) {
            if (a.t != TV_STR) return rerr(c, "'in <string>' requires string as left operand, not %s", type_name(a));
            r = a.u.s.n == 0 || memmem(b.u.s.p, b.u.s.n, a.u.s.p, a.u.s.n) != NULL;
        } else if (b.t == TV_LIST) {
            for (size_t i = 0; i < b.u.l->n && !r; i++) r = veq(a, b.u.l->v[i]);
        } else if (b.t == TV_DICT) {
            r = dict_find(b.u.d, a) != NULL;
        } else if (b.t == TV_UNDEF) {
            r = false;
        } else {
            return rerr(c, "argument of type '%s' is not iterable", type_name(b));
        }
        *out = v_bool(op == TB_IN ? r : !r);
        return 0;
    }
    if (a.t == TV_UNDEF) return undef_err(c, a);
    if (b.t == TV_UNDEF) return undef_err(c, b);
    if (is_num(a) && is_num(b)) {
        bool fl = a.t == TV_FLOAT || b.t == TV_FLOAT;
        if (!fl) {
            int64_t x = num_i(a), y = num_i(b), r;
            switch (op) {
            case TB_ADD: if (__builtin_add_overflow(x, y, &r)) goto ovf; *out = v_int(r); return 0;
            case TB_SUB: if (__builtin_sub_overflow(x, y, &r)) goto ovf; *out = v_int(r); return 0;
            case TB_MUL: if (__builtin_mul_overflow(x, y, &r)) goto ovf; *out = v_int(r); return 0;
            case TB_DIV:
                if (y == 0) return rerr(c, "division by zero");
                *out = v_float((double)x / (double)y);
                return 0;
            case TB_FLOORDIV:
            case TB_MOD: {
                if (y == 0) return rerr(c, "integer division or modulo by zero");
                if (x == INT64_MIN && y == -1) goto ovf;
                int64_t q = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) q--, m += y;
                *out = v_int(op == TB_MOD ? m : q);
                return 0;
            }
            case TB_POW: {
                if (y < 0) {
                    if (x == 0) return rerr(c, "0.0 cannot be raised to a negative power");
                    *out = v_float(pow((double)x, (double)y));
                    return 0;
                }
                int64_t base = x, e = y;
                r = 1;
                while (e > 0) {
                    if ((e & 1) && __builtin_mul_overflow(r, base, &r)) goto ovf;
                    e >>= 1;
                    if (e && __builtin_mul_overflow(base, base, &base)) goto ovf;
                }
                *out = v_int(r);
                return 0;
            }
            }
        } else {
            double x = num_f(a), y = num_f(b);
            switch (op) {
            case TB_ADD: *out = v_float(x + y); return 0;
            case TB_SUB: *out = v_float(x - y); return 0;
            case TB_MUL: *out = v_float(x * y); return 0;
            case TB_DIV:
                if (y == 0) return rerr(c, "float division by zero");
                *out = v_float(x / y);
                return 0;
            case TB_FLOORDIV:
            case TB_MOD: {
                if (y == 0) return rerr(c, "float modulo");
                double m = fmod(x, y);
                if (m != 0) {
                    if ((m < 0) != (y < 0)) m += y;
                } else {
                    m = copysign(0.0, y);
                }
                if (op == TB_MOD) {
                    *out = v_float(m);
                    return 0;
                }
                double dv = (x - m) / y, fd;
                if (dv != 0) {
                    fd = floor(dv);
                    if (dv - fd > 0.5) fd += 1.0;
                } else {
                    fd = copysign(0.0, x / y);
                }
                *out = v_float(fd);
                return 0;
            }
            case TB_POW: *out = v_float(pow(x, y)); return 0;
            }
        }
    }
    if (op == TB_ADD && a.t == TV_STR && b.t == TV_STR) {
        size_t n;
        if (!smelt_add_ok(a.u.s.n, b.u.s.n, &n)) goto ovf;
        char *s = ralloc(c, n + 1);
        if (!s) return -1;
        memcpy(s, a.u.s.p, a.u.s.n);
        memcpy(s + a.u.s.n, b.u.s.p, b.u.s.n);
        *out = v_str(s, n);
        return 0;
    }
    if (op == TB_ADD && a.t == TV_LIST && b.t == TV_LIST &&
        (a.flags & TVF_TUPLE) == (b.flags & TVF_TUPLE)) {
        struct tmpl_list *l = list_new(c, a.u.l->n + b.u.l->n);
        if (!l) return -1;
        for (size_t i = 0; i < a.u.l->n; i++) l->v[l->n++] = a.u.l->v[i];
        for (size_t i = 0; i < b.u.l->n; i++) l->v[l->n++] = b.u.l->v[i];
        *out = v_list(l, a.flags & TVF_TUPLE);
        return 0;
    }
    if (op == TB_MUL && ((a.t == TV_STR || a.t == TV_LIST) && (b.t == TV_INT || b.t == TV_BOOL))) {
        val t = a;
        a = b;
        b = t;
    }
    if (op == TB_MUL && (a.t == TV_INT || a.t == TV_BOOL) && (b.t == TV_STR || b.t == TV_LIST)) {
        int64_t k = num_i(a);
        size_t unit = b.t == TV_STR ? b.u.s.n : b.u.l->n, total;
        if (k < 0 || unit == 0) k = 0; /* an empty unit repeats to nothing, however large k is */
        if (!smelt_mul_ok(unit, (size_t)k, &total) || total > TMPL_MAX_OUT)
            return rlimit(c, "repetition result too large");
        if (b.t == TV_STR) {
            char *s = ralloc(c, total + 1);
            if (!s) return -1;
            for (int64_t i = 0; i < k; i++) memcpy(s + (size_t)i * unit, b.u.s.p, unit);
            *out = v_str(s, total);
        } else {
            struct tmpl_list *l = list_new(c, total);
            if (!l) return -1;
            for (int64_t i = 0; i < k; i++)
                for (size_t j = 0; j < unit; j++) l->v[l->n++] = b.u.l->v[j];
            *out = v_list(l, b.flags & TVF_TUPLE);
        }
        return 0;
    }
    {
        static const char *const OPN[] = {"", "+", "-", "*", "/", "//", "%", "**"};
        return rerr(c, "unsupported operand type(s) for %s: '%s' and '%s'",
                    op < 8 ? OPN[op] : "?", type_name(a), type_name(b));
    }
ovf:
    return rlimit(c, "integer overflow");
}

/* ---- JSON (transformers' tojson = json.dumps) ----------------------------- */
struct json_opts {
    bool ensure_ascii, sort_keys, indent_on;
    const char *indent;
    size_t indent_n;
    const char *item_sep, *key_sep;
    size_t item_sep_n, key_sep_n;
};

static int json_str(struct rctx *c, struct sbuf *b, const char *p, size_t n, bool ascii) {
    if (sb_put(c, b, "\"", 1)) return -1;
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)p[i];
        char esc[16];
        const char *e = NULL;
        size_t ni = i + 1;
        if (ch == '"') e = "\\\"";
        else if (ch == '\\') e = "\\\\";
        else if (ch == '\n') e = "\\n";
        else if (ch == '\r') e = "\\r";
        else if (ch == '\t') e = "\\t";
        else if (ch == '\b') e = "\\b";
        else if (ch == '\f') e = "\\f";
        else if (ch < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            e = esc;
        } else if (ch >= 0x80) {
            ni = u8next(p, n, i);
            if (ascii) {
                uint32_t cp = u8at(p, n, i);
                if (cp >= 0x10000) {
                    uint32_t v = cp - 0x10000;
                    snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
                } else {
                    snprintf(esc, sizeof esc, "\\u%04x", cp);
                }
                e = esc;
            }
        }
        if (e ? sb_puts(c, b, e) : sb_put(c, b, p + i, ni - i)) return -1;
        i = ni;
    }
    return sb_put(c, b, "\"", 1);
}

static int json_nl(struct rctx *c, struct sbuf *b, const struct json_opts *o, int level) {
    if (sb_put(c, b, "\n", 1)) return -1;
    for (int i = 0; i < level; i++)
        if (sb_put(c, b, o->indent, o->indent_n)) return -1;
    return 0;
}

static int json_float(struct rctx *c, struct sbuf *b, double f) {
    if (isnan(f)) return sb_puts(c, b, "NaN");
    if (isinf(f)) return sb_puts(c, b, f < 0 ? "-Infinity" : "Infinity");
    char num[64];
    fmt_float(f, num, sizeof num);
    return sb_puts(c, b, num);
}

static int json_dump(struct rctx *c, struct sbuf *b, val v, const struct json_opts *o, int level) {
    if (level > 100) return rlimit(c, "value nesting too deep for tojson");
    char num[64];
    switch (v.t) {
    case TV_NONE: return sb_puts(c, b, "null");
    case TV_BOOL: return sb_puts(c, b, v.u.b ? "true" : "false");
    case TV_INT: snprintf(num, sizeof num, "%lld", (long long)v.u.i); return sb_puts(c, b, num);
    case TV_FLOAT: return json_float(c, b, v.u.f);
    case TV_STR: return json_str(c, b, v.u.s.p, v.u.s.n, o->ensure_ascii);
    case TV_LIST: {
        if (v.u.l->n == 0) return sb_puts(c, b, "[]");
        if (sb_puts(c, b, "[")) return -1;
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i && sb_put(c, b, o->item_sep, o->item_sep_n)) return -1;
            if (o->indent_on && json_nl(c, b, o, level + 1)) return -1;
            if (json_dump(c, b, v.u.l->v[i], o, level + 1)) return -1;
        }
        if (o->indent_on && json_nl(c, b, o, level)) return -1;
        return sb_puts(c, b, "]");
    }
    case TV_DICT: {
        if (v.u.d->n == 0) return sb_puts(c, b, "{}");
        size_t n = v.u.d->n;
        size_t *ord = ralloc(c, n * sizeof *ord);
        if (!ord) return -1;
        for (size_t i = 0; i < n; i++) ord[i] = i;
        if (o->sort_keys) { /* insertion sort (stable) by key */
            for (size_t i = 1; i < n; i++) {
                size_t x = ord[i], j = i;
                while (j > 0) {
                    bool lt;
                    if (vlt(c, v.u.d->kv[x].k, v.u.d->kv[ord[j - 1]].k, &lt)) return -1;
                    if (!lt) break;
                    ord[j] = ord[j - 1];
                    j--;
                }
                ord[j] = x;
            }
        }
        if (sb_puts(c, b, "{")) return -1;
        for (size_t i = 0; i < n; i++) {
            const struct tmpl_kv *kv = &v.u.d->kv[ord[i]];
            if (i && sb_put(c, b, o->item_sep, o->item_sep_n)) return -1;
            if (o->indent_on && json_nl(c, b, o, level + 1)) return -1;
            val k = kv->k;
            if (k.t == TV_STR) {
                if (json_str(c, b, k.u.s.p, k.u.s.n, o->ensure_ascii)) return -1;
            } else if (k.t == TV_INT || k.t == TV_BOOL || k.t == TV_NONE || k.t == TV_FLOAT) {
                struct sbuf t = {0};
                int r = k.t == TV_FLOAT ? json_float(c, &t, k.u.f) : json_dump(c, &t, k, o, level);
                if (!r) r = json_str(c, b, t.p, t.n, false);
                free(t.p);
                if (r) return -1;
            } else {
                return rerr(c, "keys must be str, int, float, bool or None, not %s", type_name(k));
            }
            if (sb_put(c, b, o->key_sep, o->key_sep_n)) return -1;
            if (json_dump(c, b, kv->v, o, level + 1)) return -1;
        }
        if (o->indent_on && json_nl(c, b, o, level)) return -1;
        return sb_puts(c, b, "}");
    }
    default: return rerr(c, "Object of type %s is not JSON serializable", type_name(v));
    }
}

static int do_tojson(struct rctx *c, val v, struct args *a, val *out) {
    struct json_opts o = {0};
    val x;
    if (arg(a, 0, "ensure_ascii", &x)) o.ensure_ascii = truthy(x);
    if (arg(a, 2, "separators", &x) && x.t != TV_NONE) {
        if (x.t != TV_LIST || x.u.l->n != 2 || x.u.l->v[0].t != TV_STR || x.u.l->v[1].t != TV_STR)
            return rerr(c, "tojson: separators must be a pair of strings");
        o.item_sep = x.u.l->v[0].u.s.p;
        o.item_sep_n = x.u.l->v[0].u.s.n;
        o.key_sep = x.u.l->v[1].u.s.p;
        o.key_sep_n = x.u.l->v[1].u.s.n;
    }
    if (arg(a, 3, "sort_keys", &x)) o.sort_keys = truthy(x);
    char *spaces = NULL;
    if (arg(a, 1, "indent", &x) && x.t != TV_NONE) {
        o.indent_on = true;
        if (x.t == TV_STR) {
            o.indent = x.u.s.p;
            o.indent_n = x.u.s.n;
        } else if (x.t == TV_INT || x.t == TV_BOOL) {
            int64_t k = num_i(x);
            if (k < 0) k = 0;
            if (k > 1000) return rlimit(c, "tojson indent too large");
            if (!(spaces = ralloc(c, (size_t)k + 1))) return -1;
            memset(spaces, ' ', (size_t)k);
            o.indent = spaces;
            o.indent_n = (size_t)k;
        } else {
            return rerr(c, "tojson: indent must be an int or a string");
        }
    }
    if (!o.item_sep) {
        o.item_sep = o.indent_on ? "," : ", ";
        o.item_sep_n = strlen(o.item_sep);
        o.key_sep = ": ";
        o.key_sep_n = 2;
    }
    struct sbuf b = {0};
    if (json_dump(c, &b, v, &o, 0)) {
        free(b.p);
        return -1;
    }
    return sb_finish(c, &b, out);
}

/* ---- string helpers ------------------------------------------------------ */
static bool cp_in(uint32_t cp, val chars) {
    for (size_t i = 0; i < chars.u.s.n; i = u8next(chars.u.s.p, chars.u.s.n, i))
        if (u8at(chars.u.s.p, chars.u.s.n, i) == cp) return true;
    return false;
}

/* Python strip: mode 1 left, 2 right, 3 both; chars NULL = whitespace */
static int str_strip(struct rctx *c, val s, const val *chars, int mode, val *out) {
    if (chars && chars->t == TV_NONE) chars = NULL;
    if (chars && chars->t != TV_STR) return rerr(c, "strip arg must be None or str");
    const char *p = s.u.s.p;
    size_t a = 0, b = s.u.s.n;
    if (mode & 1)
        while (a < b) {
            uint32_t cp = u8at(p, b, a);
            if (chars ? !cp_in(cp, *chars) : !smelt_tmpli_isspace(cp)) break;
            a = u8next(p, b, a);
        }
    if (mode & 2)
        while (b > a) {
            size_t st = b - 1;
            while (st > a && ((unsigned char)p[st] & 0xC0) == 0x80) st--;
            uint32_t cp = u8at(p, b, st);
            if (chars ? !cp_in(cp, *chars) : !smelt_tmpli_isspace(cp)) break;
            b = st;
        }
    *out = v_str(p + a, b - a);
    return 0;
}

static int str_case(struct rctx *c, val s, char mode, val *out) {
    /* mode: U upper, L lower, T Python title(), C capitalize() */
    struct sbuf b = {0};
    bool prev_cased = false;
    size_t k = 0;
    for (size_t i = 0; i < s.u.s.n; i = u8next(s.u.s.p, s.u.s.n, i), k++) {
        uint32_t cp = u8at(s.u.s.p, s.u.s.n, i);
        char m = mode;
        if (mode == 'T') {
            m = prev_cased ? 'L' : 'T';
            prev_cased = is_cased(cp);
        } else if (mode == 'C') {
            m = k == 0 ? 'T' : 'L';
        }
        if (put_case(c, &b, cp, m)) {
            free(b.p);
            return -1;
        }
    }
    return sb_finish(c, &b, out);
}

static int str_replace(struct rctx *c, val s, val old, val nw, int64_t count, val *out) {
    struct sbuf b = {0};
    int64_t done = 0;
    if (old.u.s.n == 0) {
        /* insert nw before every character and at the end */
        size_t i = 0;
        for (;;) {
            if (count >= 0 && done >= count) break;
            if (sb_put(c, &b, nw.u.s.p, nw.u.s.n)) goto fail;
            done++;
            if (i >= s.u.s.n) {
                i = s.u.s.n + 1;
                break;
            }
            size_t ni = u8next(s.u.s.p, s.u.s.n, i);
            if (sb_put(c, &b, s.u.s.p + i, ni - i)) goto fail;
            i = ni;
        }
        if (i <= s.u.s.n && sb_put(c, &b, s.u.s.p + i, s.u.s.n - i)) goto fail;
        return sb_finish(c, &b, out);
    }
    size_t i = 0;
    while (i <= s.u.s.n) {
        const char *hit = (count < 0 || done < count)
                              ? memmem(s.u.s.p + i, s.u.s.n - i, old.u.s.p, old.u.s.n)
                              : NULL;
        if (!hit) {
            if (sb_put(c, &b, s.u.s.p + i, s.u.s.n - i)) goto fail;
            break;
        }
        size_t h = (size_t)(hit - s.u.s.p);
        if (sb_put(c, &b, s.u.s.p + i, h - i) || sb_put(c, &b, nw.u.s.p, nw.u.s.n)) goto fail;
        i = h + old.u.s.n;
        done++;
    }
    return sb_finish(c, &b, out);
fail:
    free(b.p);
    return -1;
}

static int str_split(struct rctx *c, val s, const val *sep, int64_t maxsplit, val *out) {
    struct tmpl_list *l = list_new(c, 0);
    if (!l) return -1;
    const char *p = s.u.s.p;
    size_t n = s.u.s.n;
    if (sep && sep->t == TV_NONE) sep = NULL;
    if (sep && sep->t != TV_STR) return rerr(c, "must be str or None, not %s", type_name(*sep));
    if (!sep) {
        size_t i = 0;
        int64_t splits = 0;
        for (;;) {
            while (i < n && smelt_tmpli_isspace(u8at(p, n, i))) i = u8next(p, n, i);
            if (i >= n) break;
            if (maxsplit >= 0 && splits >= maxsplit) {
                /* rest, with trailing whitespace stripped */
                size_t e = n;
                val t;
                str_strip(c, v_str(p + i, e - i), NULL, 2, &t);
                if (list_push(c, l, t)) return -1;
                break;
            }
            size_t j = i;
            while (j < n && !smelt_tmpli_isspace(u8at(p, n, j))) j = u8next(p, n, j);
            if (list_push(c, l, v_str(p + i, j - i))) return -1;
            splits++;
            i = j;
        }
    } else {
        if (sep->u.s.n == 0) return rerr(c, "empty separator");
        size_t i = 0;
        int64_t splits = 0;
        for (;;) {
            const char *hit = (maxsplit < 0 || splits < maxsplit)
                                  ? memmem(p + i, n - i, sep->u.s.p, sep->u.s.n)
                                  : NULL;
            if (!hit) {
                if (list_push(c, l, v_str(p + i, n - i))) return -1;
                break;
            }
            size_t h = (size_t)(hit - p);
            if (list_push(c, l, v_str(p + i, h - i))) return -1;
            i = h + sep->u.s.n;
            splits++;
        }
    }
    *out = v_list(l, false);
    return 0;
}

/* Python str.splitlines() boundaries */
static size_t line_break_len(const char *p, size_t n, size_t i) {
    uint32_t cp = u8at(p, n, i);
    if (cp == '\r') return (i + 1 < n && p[i + 1] == '\n') ? 2 : 1;
    if (cp == '\n' || cp == 0x0B || cp == 0x0C || cp == 0x1C || cp == 0x1D || cp == 0x1E ||
        cp == 0x85 || cp == 0x2028 || cp == 0x2029)
        return u8next(p, n, i) - i;
    return 0;
}
static int str_splitlines(struct rctx *c, val s, struct tmpl_list **out) {
    struct tmpl_list *l = list_new(c, 0);
    if (!l) return -1;
    const char *p = s.u.s.p;
    size_t n = s.u.s.n, st = 0, i = 0;
    while (i < n) {
        size_t bl = line_break_len(p, n, i);
        if (bl) {
            if (list_push(c, l, v_str(p + st, i - st))) return -1;
            i += bl;
            st = i;
        } else {
            i = u8next(p, n, i);
        }
    }
    if (st < n && list_push(c, l, v_str(p + st, n - st))) return -1;
    *out = l;
    return 0;
}

static int need_str(struct rctx *c, val v, const char *what) {
    if (v.t != TV_STR) return rerr(c, "%s must be str, not %s", what, type_name(v));
    return 0;
}

static bool str_pred(val s, int id) {
    if (s.u.s.n == 0) return false;
    bool any_cased = false;
    for (size_t i = 0; i < s.u.s.n; i = u8next(s.u.s.p, s.u.s.n, i)) {
        uint32_t cp = u8at(s.u.s.p, s.u.s.n, i);
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
        bool alpha = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
        bool digit = cat == UTF8PROC_CATEGORY_ND;
        switch (id) {
        case M_ISSPACE: if (!smelt_tmpli_isspace(cp)) return false; break;
        case M_ISDIGIT: if (!digit) return false; break;
        case M_ISALPHA: if (!alpha) return false; break;
        case M_ISALNUM: if (!alpha && !digit && cat != UTF8PROC_CATEGORY_NL && cat != UTF8PROC_CATEGORY_NO) return false; break;
        case M_ISUPPER:
            if (cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT) return false;
            if (cat == UTF8PROC_CATEGORY_LU) any_cased = true;
            break;
        case M_ISLOWER:
            if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LT) return false;
            if (cat == UTF8PROC_CATEGORY_LL) any_cased = true;
            break;
        }
    }
    return (id == M_ISUPPER || id == M_ISLOWER) ? any_cased : true;
}

static int range_list(struct rctx *c, struct args *a, val *out) {
    int64_t st = 0, en, sp = 1;
    for (size_t i = 0; i < a->npos; i++)
        if (a->pos[i].t != TV_INT && a->pos[i].t != TV_BOOL)
            return rerr(c, "'%s' object cannot be interpreted as an integer", type_name(a->pos[i]));
    if (a->npos == 1) en = num_i(a->pos[0]);
    else if (a->npos == 2 || a->npos == 3) {
        st = num_i(a->pos[0]);
        en = num_i(a->pos[1]);
        if (a->npos == 3) sp = num_i(a->pos[2]);
    } else {
        return rerr(c, "range expected 1 to 3 arguments, got %zu", a->npos);
    }
    if (sp == 0) return rerr(c, "range() arg 3 must not be zero");
    double cnt = sp > 0 ? ceil(((double)en - (double)st) / (double)sp)
                        : ceil(((double)st - (double)en) / (double)-sp);
    if (cnt < 0) cnt = 0;
    if (cnt > TMPL_MAX_RANGE)
        return rerr(c, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).",
                    TMPL_MAX_RANGE);
    struct tmpl_list *l = list_new(c, (size_t)cnt);
    if (!l) return -1;
    for (int64_t i = st; sp > 0 ? i < en : i > en; i += sp) l->v[l->n++] = v_int(i);
    *out = v_list(l, false);
    return 0;
}

/* ---- calls --------------------------------------------------------------- */
static int call_macro(struct rctx *c, struct tmpl_method *m, struct args *a, val *out) {
    const struct tmpl_node *mn = m->node;
    if (c->call_depth >= TMPL_MAX_CALL_DEPTH) return rlimit(c, "macro recursion limit reached");
    if (a->npos > mn->nargs)
        return rerr(c, "macro '%s' takes not more than %zu argument(s)", mn->name, mn->nargs);
    struct frame *f = ralloc(c, sizeof *f);
    if (!f) return -1;
    f->parent = m->frame;
    for (size_t k = 0; k < a->nkw; k++) {
        bool found = false;
        for (size_t i = 0; i < mn->nargs; i++)
            if (!strcmp(mn->args[i]->name, a->kwn[k])) found = true;
        if (!found) return rerr(c, "macro '%s' takes no keyword argument '%s'", mn->name, a->kwn[k]);
    }
    for (size_t i = 0; i < mn->nargs; i++) {
        const struct tmpl_node *p = mn->args[i];
        val v;
        if (!arg(a, i, p->name, &v)) {
            if (p->a) {
                if (eval(c, f, p->a, &v)) return -1;
            } else {
                v = v_undef(p->name);
            }
        }
        if (dict_set_str(c, &f->vars, p->name, v)) return -1;
    }
    struct sbuf b = {0};
    struct sbuf *saved = c->out;
    int saved_ctl = c->ctl;
    c->out = &b;
    c->call_depth++;
    c->ctl = 0;
    int r = exec_body(c, f, mn->body);
    c->call_depth--;
    c->out = saved;
    c->ctl = saved_ctl;
    if (r) {
        free(b.p);
        return -1;
    }
    return sb_finish(c, &b, out);
}

static int call_method(struct rctx *c, struct tmpl_method *m, struct args *a, val *out) {
    val s = m->self, x, y;
    switch (m->id) {
    case M_STRIP: return str_strip(c, s, arg(a, 0, NULL, &x) ? &x : NULL, 3, out);
    case M_LSTRIP: return str_strip(c, s, arg(a, 0, NULL, &x) ? &x : NULL, 1, out);
    case M_RSTRIP: return str_strip(c, s, arg(a, 0, NULL, &x) ? &x : NULL, 2, out);
    case M_SPLIT:
    case M_RSPLIT: {
        int64_t ms = -1;
        if (arg(a, 1, "maxsplit", &y)) {
            if (y.t != TV_INT) return rerr(c, "maxsplit must be an integer");
            ms = y.u.i;
        }
        if (m->id == M_RSPLIT && ms >= 0) return rerr(c, "rsplit with maxsplit is not supported");
        return str_split(c, s, arg(a, 0, "sep", &x) ? &x : NULL, ms, out);
    }
    case M_STARTSWITH:
    case M_ENDSWITH: {
        if (!arg(a, 0, NULL, &x)) return rerr(c, "startswith/endswith takes one argument");
        val one[1] = {x};
        const val *cands = one;
        size_t nc = 1;
        if (x.t == TV_LIST && (x.flags & TVF_TUPLE)) cands = x.u.l->v, nc = x.u.l->n;
        bool r = false;
        for (size_t i = 0; i < nc && !r; i++) {
            if (cands[i].t != TV_STR)
                return rerr(c, "startswith first arg must be str or a tuple of str, not %s",
                            type_name(cands[i]));
            size_t pn = cands[i].u.s.n;
            if (pn <= s.u.s.n)
                r = memcmp(m->id == M_STARTSWITH ? s.u.s.p : s.u.s.p + s.u.s.n - pn,
                           cands[i].u.s.p, pn) == 0;
        }
        *out = v_bool(r);
        return 0;
    }
    case M_UPPER: return str_case(c, s, 'U', out);
    case M_LOWER: return str_case(c, s, 'L', out);
    case M_TITLE: return str_case(c, s, 'T', out);
    case M_CAPITALIZE: return str_case(c, s, 'C', out);
    case M_REPLACE: {
        int64_t cnt = -1;
        val k;
        if (!arg(a, 0, NULL, &x) || !arg(a, 1, NULL, &y)) return rerr(c, "replace expected at least 2 arguments");
        if (need_str(c, x, "replace() argument 1") || need_str(c, y, "replace() argument 2")) return -1;
        if (arg(a, 2, "count", &k)) {
            if (k.t != TV_INT && k.t != TV_BOOL) return rerr(c, "'%s' object cannot be interpreted as an integer", type_name(k));
            cnt = num_i(k);
        }
        return str_replace(c, s, x, y, cnt, out);
    }
    case M_JOIN: {
        struct tmpl_list *l;
        if (!arg(a, 0, NULL, &x)) return rerr(c, "join() takes exactly one argument");
        if (iter_list(c, x, &l)) return -1;
        struct sbuf b = {0};
        for (size_t i = 0; i < l->n; i++) {
            if (l->v[i].t != TV_STR) {
                free(b.p);
                return rerr(c, "sequence item %zu: expected str instance, %s found", i, type_name(l->v[i]));
            }
            if ((i && sb_put(c, &b, s.u.s.p, s.u.s.n)) || sb_put(c, &b, l->v[i].u.s.p, l->v[i].u.s.n)) {
                free(b.p);
                return -1;
            }
        }
        return sb_finish(c, &b, out);
    }
    case M_FIND:
    case M_COUNT: {
        if (!arg(a, 0, NULL, &x)) return rerr(c, "find/count needs an argument");
        if (need_str(c, x, "argument")) return -1;
        if (m->id == M_FIND) {
            const char *h = x.u.s.n ? memmem(s.u.s.p, s.u.s.n, x.u.s.p, x.u.s.n) : s.u.s.p;
            *out = v_int(h ? (int64_t)u8len(s.u.s.p, (size_t)(h - s.u.s.p)) : -1);
        } else {
            int64_t k = 0;
            if (x.u.s.n == 0) k = (int64_t)u8len(s.u.s.p, s.u.s.n) + 1;
            else
                for (size_t i = 0; i + x.u.s.n <= s.u.s.n;) {
                    const char *h = memmem(s.u.s.p + i, s.u.s.n - i, x.u.s.p, x.u.s.n);
                    if (!h) break;
                    k++;
                    i = (size_t)(h - s.u.s.p) + x.u.s.n;
                }
            *out = v_int(k);
        }
        return 0;
    }
    case M_SPLITLINES: {
        struct tmpl_list *l;
        if (str_splitlines(c, s, &l)) return -1;
        *out = v_list(l, false);
        return 0;
    }
    case M_ISSPACE:
    case M_ISDIGIT:
    case M_ISALPHA:
    case M_ISALNUM:
    case M_ISUPPER:
    case M_ISLOWER: *out = v_bool(str_pred(s, m->id)); return 0;
    case M_FORMAT: return rerr(c, "str.format is not supported");
    case M_ITEMS:
    case M_KEYS:
    case M_VALUES: {
        struct tmpl_list *l = list_new(c, s.u.d->n);
        if (!l) return -1;
        for (size_t i = 0; i < s.u.d->n; i++) {
            if (m->id == M_KEYS) l->v[l->n++] = s.u.d->kv[i].k;
            else if (m->id == M_VALUES) l->v[l->n++] = s.u.d->kv[i].v;
            else {
                struct tmpl_list *p = list_new(c, 2);
                if (!p) return -1;
                p->v[0] = s.u.d->kv[i].k;
                p->v[1] = s.u.d->kv[i].v;
                p->n = 2;
                l->v[l->n++] = v_list(p, true);
            }
        }
        *out = v_list(l, false);
        return 0;
    }
    case M_GET: {
        if (!arg(a, 0, NULL, &x)) return rerr(c, "get expected at least 1 argument");
        val *e = dict_find(s.u.d, x);
        if (e) *out = *e;
        else *out = arg(a, 1, NULL, &y) ? y : v_none();
        return 0;
    }
    case M_CYCLE: {
        if (a->npos == 0) return rerr(c, "no items for cycling given");
        *out = a->pos[s.u.lp->index0 % a->npos];
        return 0;
    }
    }
    return rerr(c, "unsupported method");
}

static int call_value(struct rctx *c, val fnv, struct args *a, val *out) {
    val x;
    switch (fnv.t) {
    case TV_UNDEF: return undef_err(c, fnv);
    case TV_MACRO: return call_macro(c, fnv.u.meth, a, out);
    case TV_METHOD: return call_method(c, fnv.u.meth, a, out);
    case TV_FUNC:
        switch (fnv.fn) {
        case F_RANGE: return range_list(c, a, out);
        case F_RAISE: {
            val msg = v_str("", 0);
            if (arg(a, 0, "message", &x) && to_str_val(c, x, &msg)) return -1;
            c->st = SMELT_ERR_FORMAT;
            smelt_err(SMELT_ERR_FORMAT, "template raised an exception: %.*s", (int)msg.u.s.n, msg.u.s.p);
            return -1;
        }
        case F_NAMESPACE:
        case F_DICT: {
            struct tmpl_dict *d = ralloc(c, sizeof *d);
            if (!d) return -1;
            for (size_t i = 0; i < a->npos; i++) {
                if (a->pos[i].t != TV_DICT) return rerr(c, "namespace/dict positional argument must be a dict");
                for (size_t k = 0; k < a->pos[i].u.d->n; k++)
                    if (dict_set(c, d, a->pos[i].u.d->kv[k].k, a->pos[i].u.d->kv[k].v)) return -1;
            }
            for (size_t i = 0; i < a->nkw; i++)
                if (dict_set_str(c, d, a->kwn[i], a->kwv[i])) return -1;
            memset(out, 0, sizeof *out);
            out->t = fnv.fn == F_DICT ? TV_DICT : TV_NS;
            out->u.d = d;
            return 0;
        }
        }
        break;
    default: break;
    }
    return rerr(c, "'%s' object is not callable", type_name(fnv));
}

/* ---- tests ------------------------------------------------------------- */
static const char *const KNOWN_TESTS[] = {
    "odd", "even", "divisibleby", "defined", "undefined", "filter", "test", "none", "boolean",
    "false", "true", "integer", "float", "lower", "upper", "string", "mapping", "number",
    "sequence", "iterable", "callable", "sameas", "escaped", "in", "==", "eq", "equalto", "!=",
    "ne", ">", "gt", "greaterthan", "ge", ">=", "<", "lt", "lessthan", "<=", "le", NULL};

static const char *const NOARG_TESTS[] = {
    "defined", "undefined", "none", "boolean", "false", "true", "integer", "float", "number",
    "string", "mapping", "iterable", "sequence", "callable", "escaped", "odd", "even", "lower",
    "upper", NULL};

static int apply_test(struct rctx *c, const char *name, val v, struct args *a, bool *res) {
    val x;
    bool has = arg(a, 0, NULL, &x);
    const char *nm = name;
    if (a->npos + a->nkw > 0)
        for (const char *const *k = NOARG_TESTS; *k; k++)
            if (!strcmp(*k, nm)) return rerr(c, "test '%s' takes no arguments", nm);
    if (!strcmp(nm, "defined")) *res = v.t != TV_UNDEF;
    else if (!strcmp(nm, "undefined")) *res = v.t == TV_UNDEF;
    else if (!strcmp(nm, "none")) *res = v.t == TV_NONE;
    else if (!strcmp(nm, "boolean")) *res = v.t == TV_BOOL;
    else if (!strcmp(nm, "true")) *res = v.t == TV_BOOL && v.u.b;
    else if (!strcmp(nm, "false")) *res = v.t == TV_BOOL && !v.u.b;
    else if (!strcmp(nm, "integer")) *res = v.t == TV_INT;
    else if (!strcmp(nm, "float")) *res = v.t == TV_FLOAT;
    else if (!strcmp(nm, "number")) *res = is_num(v);
    else if (!strcmp(nm, "string")) *res = v.t == TV_STR;
    else if (!strcmp(nm, "mapping")) *res = v.t == TV_DICT;
    else if (!strcmp(nm, "iterable")) *res = v.t == TV_STR || v.t == TV_LIST || v.t == TV_DICT || v.t == TV_UNDEF;
    else if (!strcmp(nm, "sequence")) *res = v.t == TV_STR || v.t == TV_LIST || v.t == TV_DICT || v.t == TV_UNDEF;
    else if (!strcmp(nm, "callable")) *res = v.t == TV_MACRO || v.t == TV_FUNC || v.t == TV_METHOD;
    else if (!strcmp(nm, "escaped")) *res = false;
    else if (!strcmp(nm, "filter") || !strcmp(nm, "test")) {
        if (!has || x.t != TV_STR) return rerr(c, "test '%s' needs a name", nm);
        *res = false;
        return rerr(c, "test '%s' is not supported", nm);
    } else if (!strcmp(nm, "odd") || !strcmp(nm, "even")) {
        if (v.t != TV_INT && v.t != TV_BOOL) {
            if (v.t == TV_UNDEF) return undef_err(c, v);
            return rerr(c, "test '%s' needs an integer", nm);
        }
        int64_t m = num_i(v) % 2;
        *res = nm[0] == 'o' ? m != 0 : m == 0;
    } else if (!strcmp(nm, "divisibleby")) {
        val r;
        if (!has) return rerr(c, "divisibleby needs an argument");
        if (binop(c, TB_MOD, v, x, &r)) return -1;
        *res = veq(r, v_int(0));
    } else if (!strcmp(nm, "lower") || !strcmp(nm, "upper")) {
        val s;
        if (to_str_val(c, v, &s)) return -1;
        *res = str_pred(s, nm[0] == 'l' ? M_ISLOWER : M_ISUPPER);
    } else if (!strcmp(nm, "sameas")) {
        if (!has) return rerr(c, "sameas needs an argument");
        if (v.t != x.t) *res = false;
        else if (v.t == TV_NONE || v.t == TV_UNDEF) *res = true;
        else if (v.t == TV_BOOL) *res = v.u.b == x.u.b;
        else if (v.t == TV_INT) *res = v.u.i == x.u.i && v.u.i >= -5 && v.u.i <= 256;
        else if (v.t == TV_STR) *res = v.u.s.p == x.u.s.p && v.u.s.n == x.u.s.n;
        else *res = v.u.l == x.u.l;
    } else if (!strcmp(nm, "in")) {
        val r;
        if (!has) return rerr(c, "in needs an argument");
        if (binop(c, TB_IN, v, x, &r)) return -1;
        *res = r.u.b;
    } else {
        int op = 0;
        if (!strcmp(nm, "==") || !strcmp(nm, "eq") || !strcmp(nm, "equalto")) op = TB_EQ;
        else if (!strcmp(nm, "!=") || !strcmp(nm, "ne")) op = TB_NE;
        else if (!strcmp(nm, ">") || !strcmp(nm, "gt") || !strcmp(nm, "greaterthan")) op = TB_GT;
        else if (!strcmp(nm, ">=") || !strcmp(nm, "ge")) op = TB_GE;
        else if (!strcmp(nm, "<") || !strcmp(nm, "lt") || !strcmp(nm, "lessthan")) op = TB_LT;
        else if (!strcmp(nm, "<=") || !strcmp(nm, "le")) op = TB_LE;
        if (!op) return rerr(c, "no test named '%s'", nm);
        if (!has) return rerr(c, "test '%s' needs an argument", nm);
        val r;
        if (binop(c, op, v, x, &r)) return -1;
        *res = r.u.b;
    }
    return 0;
}

/* ---- filters ----------------------------------------------------------- */
static const char *const KNOWN_FILTERS[] = {
    "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e",
    "escape", "filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent",
    "int", "join", "last", "length", "list", "lower", "items", "map", "min", "max", "pprint",
    "random", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select",
    "selectattr", "slice", "sort", "string", "striptags", "sum", "title", "trim", "truncate",
    "unique", "upper", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr", "tojson", NULL};

bool smelt_tmpli_known(const char *name, bool test) {
    for (const char *const *k = test ? KNOWN_TESTS : KNOWN_FILTERS; *k; k++)
        if (!strcmp(*k, name)) return true;
    return false;
}

/* attribute path lookup used by map/selectattr/sort/join(attribute=) */
static int attr_path(struct rctx *c, val item, val attr, val *out) {
    if (attr.t == TV_INT) return get_item(c, item, attr, out);
    if (attr.t != TV_STR) return rerr(c, "attribute must be a string");
    size_t i = 0;
    *out = item;
    while (i <= attr.u.s.n) {
        const char *dot = memchr(attr.u.s.p + i, '.', attr.u.s.n - i);
        size_t e = dot ? (size_t)(dot - attr.u.s.p) : attr.u.s.n;
        val key = v_str(attr.u.s.p + i, e - i);
        bool digits = e > i;
        for (size_t k = i; k < e; k++)
            if (attr.u.s.p[k] < '0' || attr.u.s.p[k] > '9') digits = false;
        if (digits && e - i < 18) key = v_int(strtoll(attr.u.s.p + i, NULL, 10));
        val nx;
        if (get_item(c, *out, key, &nx)) return -1;
        *out = nx;
        if (!dot) break;
        i = e + 1;
    }
    return 0;
}

/* Python int(str, base) / float(str) parsing for the int and float filters */
static bool parse_pyint(val s, int base, int64_t *out) {
    char buf[80];
    size_t a = 0, b = s.u.s.n;
    const char *p = s.u.s.p;
    while (a < b && smelt_tmpli_isspace((unsigned char)p[a])) a++;
    while (b > a && smelt_tmpli_isspace((unsigned char)p[b - 1])) b--;
    if (b - a >= sizeof buf) return false;
    size_t n = 0;
    bool neg = false;
    if (a < b && (p[a] == '+' || p[a] == '-')) neg = p[a++] == '-';
    if (b - a >= 2 && p[a] == '0') {
        char x = (char)(p[a + 1] | 0x20);
        int pb = x == 'x' ? 16 : x == 'o' ? 8 : x == 'b' ? 2 : 0;
        if (pb && (base == 0 || base == pb)) base = pb, a += 2;
    }
    if (base == 0) base = 10;
    bool last_us = true;
    for (size_t i = a; i < b; i++) {
        if (p[i] == '_') {
            if (last_us) return false;
            last_us = true;
            continue;
        }
        char ch = p[i];
        int h = ch >= '0' && ch <= '9' ? ch - '0' : (ch | 0x20) >= 'a' && (ch | 0x20) <= 'z' ? (ch | 0x20) - 'a' + 10 : -1;
        if (h < 0 || h >= base) return false;
        buf[n++] = p[i];
        last_us = false;
    }
    if (n == 0 || last_us) return false;
    buf[n] = 0;
    errno = 0;
    long long v = strtoll(buf, NULL, base);
    if (errno) return false;
    *out = neg ? -v : v;
    return true;
}

static bool parse_pyfloat(val s, double *out) {
    char buf[128];
    size_t a = 0, b = s.u.s.n, n = 0;
    const char *p = s.u.s.p;
    while (a < b && smelt_tmpli_isspace((unsigned char)p[a])) a++;
    while (b > a && smelt_tmpli_isspace((unsigned char)p[b - 1])) b--;
    if (b == a || b - a >= sizeof buf) return false;
    for (size_t i = a; i < b; i++) {
        char ch = p[i];
        if (ch == '_') {
            if (i == a || i + 1 == b || !(p[i - 1] >= '0' && p[i - 1] <= '9') ||
                !(p[i + 1] >= '0' && p[i + 1] <= '9'))
                return false;
            continue;
        }
        if (!((ch >= '0' && ch <= '9') || ch == '.' || ch == 'e' || ch == 'E' || ch == '+' ||
              ch == '-' || (ch | 0x20) == 'i' || (ch | 0x20) == 'n' || (ch | 0x20) == 'f' ||
              (ch | 0x20) == 'a' || (ch | 0x20) == 't' || (ch | 0x20) == 'y'))
            return false;
        buf[n++] = ch;
    }
    buf[n] = 0;
    /* reject hex floats and C-only spellings strtod would take */
    for (size_t i = 0; i < n; i++)
        if (buf[i] == 'x' || buf[i] == 'X') return false;
    char *end;
    double v = strtod(buf, &end);
    if (*end) return false;
    const char *q = buf + (buf[0] == '+' || buf[0] == '-');
    if (isnan(v) && strcasecmp(q, "nan") != 0) return false;
    *out = v;
    return true;
}

static int to_int_filter(struct rctx *c, val v, struct args *a, val *out) {
    val dflt = v_int(0), bv;
    arg(a, 0, "default", &dflt);
    int base = 10;
    if (arg(a, 1, "base", &bv)) {
        if (bv.t != TV_INT && bv.t != TV_BOOL) return rerr(c, "int() base must be an integer");
        /* an invalid base makes int(value, base) fail; jinja2 then tries float() */
        base = (num_i(bv) != 0 && (num_i(bv) < 2 || num_i(bv) > 36)) ? -1 : (int)num_i(bv);
    }
    int64_t i;
    double f;
    switch (v.t) {
    case TV_INT:
    case TV_BOOL: *out = v_int(num_i(v)); return 0;
    case TV_FLOAT: f = v.u.f; goto from_float;
    case TV_STR:
        if (base >= 0 && parse_pyint(v, base, &i)) {
            *out = v_int(i);
            return 0;
        }
        if (parse_pyfloat(v, &f)) goto from_float;
        *out = dflt;
        return 0;
    default: *out = dflt; return 0;
    }
from_float:
    if (isnan(f)) {
        *out = dflt;
        return 0;
    }
    if (isinf(f)) return rerr(c, "cannot convert float infinity to integer");
    if (f >= 9.2233720368547758e18 || f < -9.2233720368547758e18) return rlimit(c, "integer overflow");
    *out = v_int((int64_t)f);
    return 0;
}

static int text_arg(struct rctx *c, val v, val *out) { return to_str_val(c, v, out); }

static int do_indent(struct rctx *c, val s, struct args *a, val *out) {
    val w = v_int(4), fv = v_bool(false), bv = v_bool(false);
    arg(a, 0, "width", &w);
    arg(a, 1, "first", &fv);
    arg(a, 2, "blank", &bv);
    struct sbuf ind = {0}, b = {0};
    struct tmpl_list *lines = NULL;
    int r = -1;
    if (w.t == TV_STR) {
        if (sb_put(c, &ind, w.u.s.p, w.u.s.n)) goto done;
    } else if (w.t == TV_INT || w.t == TV_BOOL) {
        int64_t k = num_i(w);
        if (k > 1000) {
            rlimit(c, "indent width too large");
            goto done;
        }
        for (int64_t i = 0; i < k; i++)
            if (sb_put(c, &ind, " ", 1)) goto done;
    } else {
        rerr(c, "indent width must be an int or a string");
        goto done;
    }
    /* s += "\n"; lines = s.splitlines() */
    {
        struct sbuf t = {0};
        if (sb_put(c, &t, s.u.s.p, s.u.s.n) || sb_put(c, &t, "\n", 1)) {
            free(t.p);
            goto done;
        }
        val sv;
        if (sb_finish(c, &t, &sv) || str_splitlines(c, sv, &lines)) goto done;
    }
    for (size_t i = 0; i < lines->n; i++) {
        val ln = lines->v[i];
        if (i > 0 && sb_put(c, &b, "\n", 1)) goto done;
        bool add = i > 0 && (truthy(bv) || ln.u.s.n > 0);
        if (add && sb_put(c, &b, ind.p, ind.n)) goto done;
        if (sb_put(c, &b, ln.u.s.p, ln.u.s.n)) goto done;
    }
    if (truthy(fv)) {
        struct sbuf t = {0};
        if (sb_put(c, &t, ind.p, ind.n) || sb_put(c, &t, b.p, b.n)) {
            free(t.p);
            goto done;
        }
        free(b.p);
        b = t;
    }
    r = sb_finish(c, &b, out);
done:
    free(ind.p);
    free(b.p);
    return r;
}

static int do_title_filter(struct rctx *c, val s, val *out) {
    /* jinja: split on runs of [-\s({[<], upper-case first char of each piece, lower the rest */
    struct sbuf b = {0};
    const char *p = s.u.s.p;
    size_t n = s.u.s.n, i = 0;
    while (i < n) {
        bool sep_run = false;
        size_t j = i;
        for (;;) {
            if (j >= n) break;
            uint32_t cp = u8at(p, n, j);
            bool sep = cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' ||
                       smelt_tmpli_isspace(cp);
            if (j == i) sep_run = sep;
            else if (sep != sep_run) break;
            j = u8next(p, n, j);
        }
        size_t k = 0;
        for (size_t q = i; q < j; q = u8next(p, n, q), k++)
            if (put_case(c, &b, u8at(p, n, q), k == 0 ? 'U' : 'L')) {
                free(b.p);
                return -1;
            }
        i = j;
    }
    return sb_finish(c, &b, out);
}

static int html_escape(struct rctx *c, val s, val *out) {
    struct sbuf b = {0};
    for (size_t i = 0; i < s.u.s.n; i++) {
        const char *e = NULL;
        switch (s.u.s.p[i]) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '"': e = "&#34;"; break;
        case '\'': e = "&#39;"; break;
        }
        if (e ? sb_puts(c, &b, e) : sb_put(c, &b, s.u.s.p + i, 1)) {
            free(b.p);
            return -1;
        }
    }
    return sb_finish(c, &b, out);
}

/* stable merge sort of l (in a copy) by key(optional attribute), lowercasing strings unless cs */
static int sort_key(struct rctx *c, val v, val attr, bool has_attr, bool cs, val *k) {
    if (has_attr) {
        if (attr_path(c, v, attr, k)) return -1;
    } else {
        *k = v;
    }
    if (!cs && k->t == TV_STR) return str_case(c, *k, 'L', k);
    return 0;
}

static int do_sort(struct rctx *c, struct tmpl_list *src, bool rev, bool cs, val attr,
                   bool has_attr, struct tmpl_list **out) {
    size_t n = src->n;
    struct tmpl_list *l = list_new(c, n), *tmp = list_new(c, n);
    val *keys = ralloc(c, (n + 1) * sizeof *keys), *tkeys = ralloc(c, (n + 1) * sizeof *tkeys);
    if (!l || !tmp || !keys || !tkeys) return -1;
    for (size_t i = 0; i < n; i++) {
        l->v[i] = src->v[i];
        if (sort_key(c, src->v[i], attr, has_attr, cs, &keys[i])) return -1;
    }
    l->n = n;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                bool take_right;
                if (rev) {
                    if (vlt(c, keys[i], keys[j], &take_right)) return -1;
                } else {
                    if (vlt(c, keys[j], keys[i], &take_right)) return -1;
                }
                if (take_right) tmp->v[k] = l->v[j], tkeys[k++] = keys[j++];
                else tmp->v[k] = l->v[i], tkeys[k++] = keys[i++];
            }
            while (i < mid) tmp->v[k] = l->v[i], tkeys[k++] = keys[i++];
            while (j < hi) tmp->v[k] = l->v[j], tkeys[k++] = keys[j++];
        }
        memcpy(l->v, tmp->v, n * sizeof *l->v);
        memcpy(keys, tkeys, n * sizeof *keys);
        if (step(c)) return -1;
    }
    *out = l;
    return 0;
}

/* select/reject/selectattr/rejectattr */
static int do_select(struct rctx *c, val v, struct args *a, bool use_attr, bool want,
                     val *out) {
    struct tmpl_list *l, *res;
    if (iter_list(c, v, &l) || !(res = list_new(c, 0))) return -1;
    size_t base = 0;
    val attr = v_none();
    if (use_attr) {
        if (!arg(a, 0, NULL, &attr)) return rerr(c, "missing parameter for attribute name");
        base = 1;
    }
    val tname;
    bool has_test = base < a->npos;
    if (has_test) {
        tname = a->pos[base];
        if (tname.t != TV_STR) return rerr(c, "test name must be a string");
    }
    char *tn = NULL;
    if (has_test) {
        if (!(tn = ralloc(c, tname.u.s.n + 1))) return -1;
        memcpy(tn, tname.u.s.p, tname.u.s.n);
        if (!smelt_tmpli_known(tn, true)) return rerr(c, "No test named '%s'.", tn);
    }
    struct args ta = {0};
    if (has_test) {
        ta.pos = a->pos + base + 1;
        ta.npos = a->npos - base - 1;
    }
    for (size_t i = 0; i < l->n; i++) {
        val item = l->v[i], x = item;
        if (step(c)) return -1;
        if (use_attr && attr_path(c, item, attr, &x)) return -1;
        bool r;
        if (has_test) {
            if (apply_test(c, tn, x, &ta, &r)) return -1;
        } else {
            r = truthy(x);
        }
        if (r == want && list_push(c, res, item)) return -1;
    }
    *out = v_list(res, false);
    return 0;
}

static int apply_filter(struct rctx *c, struct frame *f, const char *nm, val v, struct args *a,
                        val *out) {
    val x, y;
    (void)f;
    if (!strcmp(nm, "safe")) {
        *out = v;
        return 0;
    }
    if (!strcmp(nm, "default") || !strcmp(nm, "d")) {
        val dv = v_str("", 0), bv = v_bool(false);
        arg(a, 0, "default_value", &dv);
        arg(a, 1, "boolean", &bv);
        *out = (v.t == TV_UNDEF || (truthy(bv) && !truthy(v))) ? dv : v;
        return 0;
    }
    if (!strcmp(nm, "length") || !strcmp(nm, "count")) {
        switch (v.t) {
        case TV_UNDEF: *out = v_int(0); return 0;
        case TV_STR: *out = v_int((int64_t)u8len(v.u.s.p, v.u.s.n)); return 0;
        case TV_LIST: *out = v_int((int64_t)v.u.l->n); return 0;
        case TV_DICT: *out = v_int((int64_t)v.u.d->n); return 0;
        default: return rerr(c, "object of type '%s' has no len()", type_name(v));
        }
    }
    if (!strcmp(nm, "tojson")) return do_tojson(c, v, a, out);
    if (!strcmp(nm, "items")) {
        if (v.t == TV_UNDEF) {
            struct tmpl_list *l = list_new(c, 0);
            if (!l) return -1;
            *out = v_list(l, false);
            return 0;
        }
        if (v.t != TV_DICT) return rerr(c, "Can only get item pairs from a mapping.");
        struct tmpl_method m = {.self = v, .id = M_ITEMS};
        struct args none = {0};
        return call_method(c, &m, &none, out);
    }
    if (!strcmp(nm, "list")) {
        struct tmpl_list *l, *cp;
        if (iter_list(c, v, &l) || !(cp = list_new(c, l->n))) return -1;
        if (l->n) memcpy(cp->v, l->v, l->n * sizeof *l->v);
        cp->n = l->n;
        *out = v_list(cp, false);
        return 0;
    }
    if (!strcmp(nm, "first") || !strcmp(nm, "last")) {
        struct tmpl_list *l;
        if (iter_list(c, v, &l)) return -1;
        *out = l->n ? l->v[nm[0] == 'f' ? 0 : l->n - 1] : v_undef(NULL);
        return 0;
    }
    if (!strcmp(nm, "join")) {
        struct tmpl_list *l;
        val sep = v_str("", 0), attr;
        bool has_attr = arg(a, 1, "attribute", &attr) && attr.t != TV_NONE;
        arg(a, 0, "d", &sep);
        if (text_arg(c, sep, &sep) || iter_list(c, v, &l)) return -1;
        struct sbuf b = {0};
        for (size_t i = 0; i < l->n; i++) {
            val it = l->v[i];
            if ((has_attr && attr_path(c, it, attr, &it)) || (i && sb_put(c, &b, sep.u.s.p, sep.u.s.n)) ||
                to_text(c, it, &b, 0)) {
                free(b.p);
                return -1;
            }
        }
        return sb_finish(c, &b, out);
    }
    if ((!strcmp(nm, "int") || !strcmp(nm, "float")) && v.t == TV_UNDEF) return undef_err(c, v);
    if (!strcmp(nm, "int")) return to_int_filter(c, v, a, out);
    if (!strcmp(nm, "float")) {
        val dflt = v_float(0.0);
        arg(a, 0, "default", &dflt);
        double d;
        if (v.t == TV_FLOAT) *out = v;
        else if (v.t == TV_INT || v.t == TV_BOOL) *out = v_float((double)num_i(v));
        else if (v.t == TV_STR && parse_pyfloat(v, &d)) *out = v_float(d);
        else *out = dflt;
        return 0;
    }
    if (!strcmp(nm, "abs")) {
        if (v.t == TV_FLOAT) *out = v_float(fabs(v.u.f));
        else if (v.t == TV_INT || v.t == TV_BOOL) {
            if (num_i(v) == INT64_MIN) return rlimit(c, "integer overflow");
            *out = v_int(num_i(v) < 0 ? -num_i(v) : num_i(v));
        } else return rerr(c, "bad operand type for abs(): '%s'", type_name(v));
        return 0;
    }
    if (!strcmp(nm, "round")) {
        val pv = v_int(0), mv = v_str("common", 6);
        arg(a, 0, "precision", &pv);
        arg(a, 1, "method", &mv);
        if (!is_num(v)) return rerr(c, "round needs a number");
        if (pv.t != TV_INT) return rerr(c, "round precision must be an integer");
        double d = num_f(v), r;
        int64_t pr = pv.u.i;
        if (mv.t != TV_STR) return rerr(c, "method must be a string");
        if (mv.u.s.n == 6 && !memcmp(mv.u.s.p, "common", 6)) {
            if (v.t != TV_FLOAT) { /* round(int, n) stays an int */
                if (pr >= 0) {
                    *out = v_int(num_i(v));
                    return 0;
                }
                return rerr(c, "round with negative precision is not supported");
            }
            if (pr < 0 || pr > 300) return rerr(c, "round precision out of supported range");
            char buf[400];
            snprintf(buf, sizeof buf, "%.*f", (int)pr, d);
            r = strtod(buf, NULL);
        } else {
            double m = pow(10.0, (double)pr);
            if (mv.u.s.n == 4 && !memcmp(mv.u.s.p, "ceil", 4)) r = ceil(d * m) / m;
            else if (mv.u.s.n == 5 && !memcmp(mv.u.s.p, "floor", 5)) r = floor(d * m) / m;
            else return rerr(c, "method must be common, ceil or floor");
        }
        *out = v_float(r);
        return 0;
    }
    if (!strcmp(nm, "sum")) {
        struct tmpl_list *l;
        val attr, acc = v_int(0);
        bool has_attr = arg(a, 0, "attribute", &attr) && attr.t != TV_NONE;
        arg(a, 1, "start", &acc);
        if (iter_list(c, v, &l)) return -1;
        for (size_t i = 0; i < l->n; i++) {
            val it = l->v[i];
            if ((has_attr && attr_path(c, it, attr, &it)) || binop(c, TB_ADD, acc, it, &acc)) return -1;
        }
        *out = acc;
        return 0;
    }
    if (!strcmp(nm, "reverse")) {
        if (v.t == TV_STR) {
            bool h[3] = {false, false, true};
            val sv[3] = {v_none(), v_none(), v_int(-1)};
            return do_slice(c, v, sv, h, out);
        }
        struct tmpl_list *l, *r;
        if (iter_list(c, v, &l) || !(r = list_new(c, l->n))) return -1;
        for (size_t i = 0; i < l->n; i++) r->v[i] = l->v[l->n - 1 - i];
        r->n = l->n;
        *out = v_list(r, false);
        return 0;
    }
    if (!strcmp(nm, "sort") || !strcmp(nm, "unique") || !strcmp(nm, "min") || !strcmp(nm, "max")) {
        struct tmpl_list *l, *r;
        val rv = v_bool(false), csv = v_bool(false), attr = v_none();
        bool is_sort = nm[0] == 's';
        if (is_sort) {
            arg(a, 0, "reverse", &rv);
            arg(a, 1, "case_sensitive", &csv);
            arg(a, 2, "attribute", &attr);
        } else {
            arg(a, 0, "case_sensitive", &csv);
            arg(a, 1, "attribute", &attr);
        }
        bool has_attr = attr.t != TV_NONE;
        if (iter_list(c, v, &l)) return -1;
        if (!strcmp(nm, "unique")) {
            if (!(r = list_new(c, 0))) return -1;
            struct tmpl_list *seen = list_new(c, 0);
            if (!seen) return -1;
            for (size_t i = 0; i < l->n; i++) {
                val k;
                bool dup = false;
                if (sort_key(c, l->v[i], attr, has_attr, truthy(csv), &k)) return -1;
                for (size_t j = 0; j < seen->n && !dup; j++) dup = veq(seen->v[j], k);
                if (step(c)) return -1;
                if (!dup && (list_push(c, seen, k) || list_push(c, r, l->v[i]))) return -1;
            }
            *out = v_list(r, false);
            return 0;
        }
        if (do_sort(c, l, is_sort ? truthy(rv) : false, truthy(csv), attr, has_attr, &r)) return -1;
        if (is_sort) *out = v_list(r, false);
        else if (r->n == 0) *out = v_undef(NULL);
        else *out = r->v[nm[1] == 'i' ? 0 : r->n - 1];
        return 0;
    }
    if (!strcmp(nm, "map")) {
        struct tmpl_list *l, *r;
        if (iter_list(c, v, &l) || !(r = list_new(c, l->n))) return -1;
        val attr, dflt;
        bool has_dflt = false;
        for (size_t i = 0; i < a->nkw; i++)
            if (!strcmp(a->kwn[i], "default")) has_dflt = true, dflt = a->kwv[i];
        if (arg(a, (size_t)-1, "attribute", &attr)) {
            for (size_t i = 0; i < l->n; i++) {
                val it;
                if (attr_path(c, l->v[i], attr, &it)) return -1;
                if (it.t == TV_UNDEF && has_dflt) it = dflt;
                r->v[r->n++] = it;
            }
        } else {
            if (a->npos == 0) {
                return rerr(c, "map requires a filter argument");
            } else {
                if (a->pos[0].t != TV_STR) return rerr(c, "map filter name must be a string");
                char *fn = ralloc(c, a->pos[0].u.s.n + 1);
                if (!fn) return -1;
                memcpy(fn, a->pos[0].u.s.p, a->pos[0].u.s.n);
                if (!smelt_tmpli_known(fn, false)) return rerr(c, "No filter named '%s'.", fn);
                struct args fa = {.pos = a->pos + 1, .npos = a->npos - 1, .kwn = a->kwn, .kwv = a->kwv, .nkw = a->nkw};
                for (size_t i = 0; i < l->n; i++) {
                    if (step(c) || apply_filter(c, f, fn, l->v[i], &fa, &r->v[r->n])) return -1;
                    r->n++;
                }
            }
        }
        *out = v_list(r, false);
        return 0;
    }
    if (!strcmp(nm, "select")) return do_select(c, v, a, false, true, out);
    if (!strcmp(nm, "reject")) return do_select(c, v, a, false, false, out);
    if (!strcmp(nm, "selectattr")) return do_select(c, v, a, true, true, out);
    if (!strcmp(nm, "rejectattr")) return do_select(c, v, a, true, false, out);
    if (!strcmp(nm, "attr")) {
        if (!arg(a, 0, "name", &x) || x.t != TV_STR) return rerr(c, "attr needs a name");
        char *an = ralloc(c, x.u.s.n + 1);
        if (!an) return -1;
        memcpy(an, x.u.s.p, x.u.s.n);
        if (v.t == TV_DICT) { /* getattr only: dict methods, not items */
            *out = v_undef(an);
            int id = !strcmp(an, "items") ? M_ITEMS : !strcmp(an, "keys") ? M_KEYS
                     : !strcmp(an, "values") ? M_VALUES : !strcmp(an, "get") ? M_GET : 0;
            return id ? make_method(c, v, id, out) : 0;
        }
        return get_attr(c, v, an, out);
    }
    /* string filters: the value goes through str() first */
    val s;
    if (!strcmp(nm, "trim") || !strcmp(nm, "upper") || !strcmp(nm, "lower") ||
        !strcmp(nm, "capitalize") || !strcmp(nm, "title") || !strcmp(nm, "string") ||
        !strcmp(nm, "replace") || !strcmp(nm, "indent") || !strcmp(nm, "e") ||
        !strcmp(nm, "escape") || !strcmp(nm, "forceescape") || !strcmp(nm, "wordcount") ||
        !strcmp(nm, "center")) {
        if (to_str_val(c, v, &s)) return -1;
        if (!strcmp(nm, "string")) {
            *out = s;
            return 0;
        }
        if (!strcmp(nm, "trim")) return str_strip(c, s, arg(a, 0, "chars", &x) ? &x : NULL, 3, out);
        if (!strcmp(nm, "upper")) return str_case(c, s, 'U', out);
        if (!strcmp(nm, "lower")) return str_case(c, s, 'L', out);
        if (!strcmp(nm, "capitalize")) return str_case(c, s, 'C', out);
        if (!strcmp(nm, "title")) return do_title_filter(c, s, out);
        if (!strcmp(nm, "indent")) return v.t == TV_UNDEF ? undef_err(c, v) : do_indent(c, s, a, out);
        if (nm[0] == 'e' || nm[0] == 'f') return html_escape(c, s, out);
        if (!strcmp(nm, "replace")) {
            val cnt = v_none();
            if (!arg(a, 0, "old", &x) || !arg(a, 1, "new", &y)) return rerr(c, "replace needs old and new");
            arg(a, 2, "count", &cnt);
            if (cnt.t != TV_NONE && cnt.t != TV_INT && cnt.t != TV_BOOL)
                return rerr(c, "'%s' object cannot be interpreted as an integer", type_name(cnt));
            if (text_arg(c, x, &x) || text_arg(c, y, &y)) return -1;
            return str_replace(c, s, x, y, cnt.t == TV_NONE ? -1 : num_i(cnt), out);
        }
        if (!strcmp(nm, "wordcount")) {
            int64_t k = 0;
            bool in = false;
            for (size_t i = 0; i < s.u.s.n; i = u8next(s.u.s.p, s.u.s.n, i)) {
                uint32_t cp = u8at(s.u.s.p, s.u.s.n, i);
                utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
                bool w = cp == '_' || (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO);
                if (w && !in) k++;
                in = w;
            }
            *out = v_int(k);
            return 0;
        }
        if (!strcmp(nm, "center")) {
            val wv = v_int(80);
            arg(a, 0, "width", &wv);
            int64_t w = wv.t == TV_INT ? wv.u.i : 80, len = (int64_t)u8len(s.u.s.p, s.u.s.n);
            if (w > 100000) return rlimit(c, "center width too large");
            if (w <= len) {
                *out = s;
                return 0;
            }
            int64_t pad = w - len, left = pad / 2 + (pad & w & 1);
            struct sbuf b = {0};
            int r = 0;
            for (int64_t i = 0; i < left && !r; i++) r = sb_put(c, &b, " ", 1);
            if (!r) r = sb_put(c, &b, s.u.s.p, s.u.s.n);
            for (int64_t i = 0; i < pad - left && !r; i++) r = sb_put(c, &b, " ", 1);
            if (r) {
                free(b.p);
                return -1;
            }
            return sb_finish(c, &b, out);
        }
    }
    return rerr(c, "filter '%s' is not supported", nm);
}

/* ---- evaluation ------------------------------------------------------------ */
static val lookup(struct rctx *c, struct frame *f, const char *name) {
    for (; f; f = f->parent) {
        val *e = dict_find_str(&f->vars, name);
        if (e) return *e;
    }
    val g = v_undef(name);
    int fn = !strcmp(name, "range") ? F_RANGE : !strcmp(name, "namespace") ? F_NAMESPACE
             : !strcmp(name, "dict") ? F_DICT : !strcmp(name, "raise_exception") ? F_RAISE : 0;
    (void)c;
    if (fn) {
        memset(&g, 0, sizeof g);
        g.t = TV_FUNC;
        g.fn = (uint16_t)fn;
    }
    return g;
}

static int eval_args(struct rctx *c, struct frame *f, const struct tmpl_node *n, struct args *a) {
    memset(a, 0, sizeof *a);
    if (!n->nargs) return 0;
    if (!(a->pos = ralloc(c, n->nargs * sizeof *a->pos)) ||
        !(a->kwv = ralloc(c, n->nargs * sizeof *a->kwv)) ||
        !(a->kwn = ralloc(c, n->nargs * sizeof *a->kwn)))
        return -1;
    for (size_t i = 0; i < n->nargs; i++) {
        val v;
        if (eval(c, f, n->args[i], &v)) return -1;
        if (n->argnames && n->argnames[i]) {
            a->kwn[a->nkw] = n->argnames[i];
            a->kwv[a->nkw++] = v;
        } else {
            a->pos[a->npos++] = v;
        }
    }
    return 0;
}

static int eval(struct rctx *c, struct frame *f, const struct tmpl_node *n, val *out) {
    if (step(c)) return -1;
    c->line = n->line;
    val a, b;
    switch (n->kind) {
    case TE_LIT: *out = n->lit; return 0;
    case TE_NAME: *out = lookup(c, f, n->name); return 0;
    case TE_LIST:
    case TE_TUPLE: {
        struct tmpl_list *l = list_new(c, n->nargs);
        if (!l) return -1;
        for (size_t i = 0; i < n->nargs; i++)
            if (eval(c, f, n->args[i], &l->v[l->n++])) return -1;
        *out = v_list(l, n->kind == TE_TUPLE);
        return 0;
    }
    case TE_DICT: {
        struct tmpl_dict *d = ralloc(c, sizeof *d);
        if (!d) return -1;
        for (size_t i = 0; i + 1 < n->nargs; i += 2) {
            if (eval(c, f, n->args[i], &a) || eval(c, f, n->args[i + 1], &b)) return -1;
            if (a.t == TV_LIST && !(a.flags & TVF_TUPLE)) return rerr(c, "unhashable type: 'list'");
            if (a.t == TV_DICT) return rerr(c, "unhashable type: 'dict'");
            if (dict_set(c, d, a, b)) return -1;
        }
        memset(out, 0, sizeof *out);
        out->t = TV_DICT;
        out->u.d = d;
        return 0;
    }
    case TE_ATTR:
        if (eval(c, f, n->a, &a)) return -1;
        c->line = n->line;
        return get_attr(c, a, n->name, out);
    case TE_ITEM:
        if (eval(c, f, n->a, &a) || eval(c, f, n->b, &b)) return -1;
        c->line = n->line;
        return get_item(c, a, b, out);
    case TE_SLICE: {
        val sv[3];
        bool has[3];
        if (eval(c, f, n->a, &a)) return -1;
        for (int k = 0; k < 3; k++) {
            has[k] = n->args[k] != NULL;
            if (has[k] && eval(c, f, n->args[k], &sv[k])) return -1;
        }
        return do_slice(c, a, sv, has, out);
    }
    case TE_CALL: {
        struct args ar;
        if (eval(c, f, n->a, &a) || eval_args(c, f, n, &ar)) return -1;
        c->line = n->line;
        return call_value(c, a, &ar, out);
    }
    case TE_FILTER: {
        struct args ar;
        if (eval(c, f, n->a, &a) || eval_args(c, f, n, &ar)) return -1;
        c->line = n->line;
        return apply_filter(c, f, n->name, a, &ar, out);
    }
    case TE_TEST: {
        struct args ar;
        bool r;
        if (eval(c, f, n->a, &a) || eval_args(c, f, n, &ar)) return -1;
        c->line = n->line;
        if (apply_test(c, n->name, a, &ar, &r)) return -1;
        *out = v_bool(n->op ? !r : r);
        return 0;
    }
    case TE_NEG:
    case TE_POS:
        if (eval(c, f, n->a, &a)) return -1;
        if (a.t == TV_INT || a.t == TV_BOOL) {
            if (n->kind == TE_NEG && num_i(a) == INT64_MIN) return rlimit(c, "integer overflow");
            *out = v_int(n->kind == TE_NEG ? -num_i(a) : num_i(a));
        } else if (a.t == TV_FLOAT) {
            *out = v_float(n->kind == TE_NEG ? -a.u.f : a.u.f);
        } else if (a.t == TV_UNDEF) {
            return undef_err(c, a);
        } else {
            return rerr(c, "bad operand type for unary %c: '%s'", n->kind == TE_NEG ? '-' : '+', type_name(a));
        }
        return 0;
    case TE_NOT:
        if (eval(c, f, n->a, &a)) return -1;
        *out = v_bool(!truthy(a));
        return 0;
    case TE_AND:
        if (eval(c, f, n->a, &a)) return -1;
        if (!truthy(a)) {
            *out = a;
            return 0;
        }
        return eval(c, f, n->b, out);
    case TE_OR:
        if (eval(c, f, n->a, &a)) return -1;
        if (truthy(a)) {
            *out = a;
            return 0;
        }
        return eval(c, f, n->b, out);
    case TE_COND:
        if (eval(c, f, n->a, &a)) return -1;
        if (truthy(a)) return eval(c, f, n->b, out);
        if (n->c) return eval(c, f, n->c, out);
        *out = v_undef(NULL);
        return 0;
    case TE_BIN:
        if (eval(c, f, n->a, &a) || eval(c, f, n->b, &b)) return -1;
        c->line = n->line;
        return binop(c, n->op, a, b, out);
    default: return rerr(c, "internal: bad expression node %d", n->kind);
    }
}

/* ---- statements ------------------------------------------------------------ */
static int assign(struct rctx *c, struct frame *f, const struct tmpl_node *tg, val v) {
    if (tg->kind == TE_NAME) return dict_set_str(c, &f->vars, tg->name, v);
    if (tg->kind == TE_ATTR) {
        val ns = lookup(c, f, tg->a->name);
        if (ns.t != TV_NS) return rerr(c, "can only assign attributes of namespace objects");
        return dict_set_str(c, ns.u.d, tg->name, v);
    }
    /* tuple unpacking */
    struct tmpl_list *l;
    if (v.t == TV_STR || v.t == TV_DICT) {
        if (iter_list(c, v, &l)) return -1;
    } else if (v.t == TV_LIST) {
        l = v.u.l;
    } else {
        return rerr(c, "cannot unpack non-iterable %s object", type_name(v));
    }
    if (l->n != tg->nargs)
        return rerr(c, "%s values to unpack (expected %zu, got %zu)",
                    l->n < tg->nargs ? "not enough" : "too many", tg->nargs, l->n);
    for (size_t i = 0; i < tg->nargs; i++)
        if (assign(c, f, tg->args[i], l->v[i])) return -1;
    return 0;
}

static int exec_for(struct rctx *c, struct frame *f, const struct tmpl_node *n) {
    val it;
    struct tmpl_list *src, *items;
    if (eval(c, f, n->a, &it)) return -1;
    c->line = n->line;
    if (iter_list(c, it, &src)) return -1;
    const struct tmpl_node *tg = n->nargs == 1 ? n->args[0] : NULL;
    struct tmpl_node tuple_tg;
    if (!tg) {
        memset(&tuple_tg, 0, sizeof tuple_tg);
        tuple_tg.kind = TE_TUPLE;
        tuple_tg.args = n->args;
        tuple_tg.nargs = n->nargs;
        tg = &tuple_tg;
    }
    items = src;
    if (n->b) { /* loop filter, evaluated with the target bound */
        if (!(items = list_new(c, 0))) return -1;
        struct frame *ff = ralloc(c, sizeof *ff);
        if (!ff) return -1;
        ff->parent = f;
        for (size_t i = 0; i < src->n; i++) {
            val r;
            ff->vars.n = 0;
            if (assign(c, ff, tg, src->v[i]) || eval(c, ff, n->b, &r)) return -1;
            if (truthy(r) && list_push(c, items, src->v[i])) return -1;
        }
    }
    if (items->n == 0) return exec_body(c, f, n->orelse);
    struct tmpl_loop *lp = ralloc(c, sizeof *lp);
    if (!lp) return -1;
    lp->items = items;
    lp->length = items->n;
    val lv = {0};
    lv.t = TV_LOOP;
    lv.u.lp = lp;
    /* one frame for all iterations, emptied each time (keeps memory flat) */
    struct frame *lf = ralloc(c, sizeof *lf);
    if (!lf) return -1;
    lf->parent = f;
    for (size_t i = 0; i < items->n; i++) {
        lf->vars.n = 0;
        lp->index0 = i;
        if (dict_set_str(c, &lf->vars, "loop", lv) || assign(c, lf, tg, items->v[i])) return -1;
        if (exec_body(c, lf, n->body)) return -1;
        if (c->ctl == 1) {
            c->ctl = 0;
            break;
        }
        c->ctl = 0;
    }
    return 0;
}

static int exec_body(struct rctx *c, struct frame *f, const struct tmpl_node *n) {
    for (; n; n = n->next) {
        if (step(c)) return -1;
        c->line = n->line;
        val v;
        switch (n->kind) {
        case TN_TEXT:
            if (sb_put(c, c->out, n->lit.u.s.p, n->lit.u.s.n)) return -1;
            break;
        case TN_OUT:
            if (eval(c, f, n->a, &v) || to_text(c, v, c->out, 0)) return -1;
            break;
        case TN_IF:
            if (eval(c, f, n->a, &v)) return -1;
            if (exec_body(c, f, truthy(v) ? n->body : n->orelse)) return -1;
            break;
        case TN_FOR:
            if (exec_for(c, f, n)) return -1;
            break;
        case TN_SET:
            if (eval(c, f, n->a, &v) || assign(c, f, n->args[0], v)) return -1;
            break;
        case TN_SETBLOCK: {
            struct sbuf b = {0};
            struct sbuf *saved = c->out;
            c->out = &b;
            int r = exec_body(c, f, n->body);
            c->out = saved;
            if (r || sb_finish(c, &b, &v)) {
                free(b.p);
                return -1;
            }
            if (assign(c, f, n->args[0], v)) return -1;
            break;
        }
        case TN_MACRO: {
            struct tmpl_method *m = ralloc(c, sizeof *m);
            if (!m) return -1;
            m->node = n;
            m->frame = f;
            memset(&v, 0, sizeof v);
            v.t = TV_MACRO;
            v.u.meth = m;
            if (dict_set_str(c, &f->vars, n->name, v)) return -1;
            break;
        }
        case TN_BREAK: c->ctl = 1; return 0;
        case TN_CONTINUE: c->ctl = 2; return 0;
        case TN_BLOCK:
            if (exec_body(c, f, n->body)) return -1;
            break;
        default: return rerr(c, "internal: bad statement node %d", n->kind);
        }
        if (c->ctl) return 0;
    }
    return 0;
}

/* ---- public API -------------------------------------------------------------- */
enum smelt_status smelt_tmpl_parse(const char *src, size_t len, struct smelt_tmpl **out) {
    if (!out) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_tmpl_parse: out is NULL");
    *out = NULL;
    if (!src && len) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_tmpl_parse: src is NULL");
    struct smelt_tmpl *t = calloc(1, sizeof *t);
    if (!t) return smelt_err(SMELT_ERR_NOMEM, "template: out of memory");
    t->ar.cap = TMPL_MAX_ARENA;
    enum smelt_status st = smelt_tmpli_parse(t, src ? src : "", len);
    if (st != SMELT_OK) {
        smelt_tmpl_free(t);
        return st;
    }
    *out = t;
    return SMELT_OK;
}

void smelt_tmpl_free(struct smelt_tmpl *t) {
    if (!t) return;
    smelt_tmpli_arena_free(&t->ar);
    free(t);
}

static int check_utf8(struct rctx *c, const char *s, size_t n, const char *what) {
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = smelt_tmpli_utf8_dec(s + i, n - i, &cp);
        if (!l) {
            c->st = SMELT_ERR_FORMAT;
            smelt_err(SMELT_ERR_FORMAT, "template input: %s has invalid UTF-8 at byte %zu", what, i);
            return -1;
        }
        i += l;
    }
    return 0;
}

static int cstr_val(struct rctx *c, const char *s, const char *what, val *out) {
    size_t n = strlen(s);
    if (check_utf8(c, s, n, what)) return -1;
    *out = v_str(s, n);
    return 0;
}

static enum smelt_status run(const struct smelt_tmpl *t, struct rctx *c, char **out, size_t *len) {
    struct sbuf b = {0};
    c->out = &b;
    int r = exec_body(c, c->top, t->root);
    smelt_tmpli_arena_free(&c->ar);
    if (r) {
        free(b.p);
        return c->st != SMELT_OK ? c->st : SMELT_ERR_FORMAT;
    }
    if (!b.p) {
        b.p = malloc(1);
        if (!b.p) return smelt_err(SMELT_ERR_NOMEM, "template: out of memory");
        b.p[0] = 0;
    }
    *out = b.p;
    if (len) *len = b.n;
    return SMELT_OK;
}

enum smelt_status smelt_tmpl_render(const struct smelt_tmpl *t, const struct smelt_chat_msg *msgs,
                                    size_t n_msgs, bool add_generation_prompt, const char *bos_token,
                                    const char *eos_token, char **out, size_t *len) {
    if (out) *out = NULL;
    if (len) *len = 0;
    if (!t || !out || (n_msgs && !msgs))
        return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_tmpl_render: NULL argument");
    struct rctx c = {.ar = {.cap = TMPL_MAX_ARENA}};
    struct frame *top = ralloc(&c, sizeof *top);
    struct tmpl_list *ml = top ? list_new(&c, n_msgs) : NULL;
    if (!ml) goto fail;
    c.top = top;
    for (size_t i = 0; i < n_msgs; i++) {
        struct tmpl_dict *d = ralloc(&c, sizeof *d);
        val role, content = v_none();
        if (!d) goto fail;
        if (!msgs[i].role) {
            smelt_tmpli_arena_free(&c.ar);
            return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_tmpl_render: message %zu has no role", i);
        }
        if (cstr_val(&c, msgs[i].role, "message role", &role)) goto fail;
        if (msgs[i].content && cstr_val(&c, msgs[i].content, "message content", &content)) goto fail;
        if (dict_set_str(&c, d, "role", role) || dict_set_str(&c, d, "content", content)) goto fail;
        ml->v[ml->n].t = TV_DICT;
        ml->v[ml->n++].u.d = d;
    }
    if (dict_set_str(&c, &top->vars, "messages", v_list(ml, false)) ||
        dict_set_str(&c, &top->vars, "add_generation_prompt", v_bool(add_generation_prompt)))
        goto fail;
    val tokv;
    if (bos_token && (cstr_val(&c, bos_token, "bos_token", &tokv) ||
                      dict_set_str(&c, &top->vars, "bos_token", tokv)))
        goto fail;
    if (eos_token && (cstr_val(&c, eos_token, "eos_token", &tokv) ||
                      dict_set_str(&c, &top->vars, "eos_token", tokv)))
        goto fail;
    return run(t, &c, out, len);
fail:
    smelt_tmpli_arena_free(&c.ar);
    return c.st != SMELT_OK ? c.st : SMELT_ERR_NOMEM;
}

static int from_json(struct rctx *c, const cJSON *j, val *out, int depth) {
    if (depth > 64) return rlimit(c, "JSON context nested too deeply");
    if (cJSON_IsNull(j)) *out = v_none();
    else if (cJSON_IsTrue(j)) *out = v_bool(true);
    else if (cJSON_IsFalse(j)) *out = v_bool(false);
    else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) < 9007199254740992.0) *out = v_int((int64_t)d);
        else *out = v_float(d);
    } else if (cJSON_IsString(j)) {
        size_t n = strlen(j->valuestring);
        if (check_utf8(c, j->valuestring, n, "JSON string")) return -1;
        return str_copy(c, j->valuestring, n, out);
    } else if (cJSON_IsArray(j)) {
        struct tmpl_list *l = list_new(c, 0);
        if (!l) return -1;
        for (const cJSON *e = j->child; e; e = e->next) {
            val v;
            if (from_json(c, e, &v, depth + 1) || list_push(c, l, v)) return -1;
        }
        *out = v_list(l, false);
    } else if (cJSON_IsObject(j)) {
        struct tmpl_dict *d = ralloc(c, sizeof *d);
        if (!d) return -1;
        for (const cJSON *e = j->child; e; e = e->next) {
            val k, v;
            if (check_utf8(c, e->string, strlen(e->string), "JSON key") ||
                str_copy(c, e->string, strlen(e->string), &k) || from_json(c, e, &v, depth + 1) ||
                dict_set(c, d, k, v))
                return -1;
        }
        memset(out, 0, sizeof *out);
        out->t = TV_DICT;
        out->u.d = d;
    } else {
        return rerr(c, "unsupported JSON value");
    }
    return 0;
}

enum smelt_status smelt_tmpl_render_json(const struct smelt_tmpl *t, const char *json,
                                         size_t json_len, char **out, size_t *len) {
    if (out) *out = NULL;
    if (len) *len = 0;
    if (!t || !out || !json) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_tmpl_render_json: NULL argument");
    cJSON *root = cJSON_ParseWithLengthOpts(json, json_len, NULL, false);
    if (!root) return smelt_err(SMELT_ERR_FORMAT, "template context: invalid JSON");
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return smelt_err(SMELT_ERR_FORMAT, "template context: JSON must be an object");
    }
    struct rctx c = {.ar = {.cap = TMPL_MAX_ARENA}};
    struct frame *top = ralloc(&c, sizeof *top);
    val v;
    if (!top || from_json(&c, root, &v, 0)) {
        cJSON_Delete(root);
        smelt_tmpli_arena_free(&c.ar);
        return c.st != SMELT_OK ? c.st : SMELT_ERR_NOMEM;
    }
    cJSON_Delete(root);
    top->vars = *v.u.d;
    c.top = top;
    return run(t, &c, out, len);
}
