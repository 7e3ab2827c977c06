/* Chat templates: arena, lexer and parser (see tmpl_int.h).
 *
 * The lexer follows jinja2's (3.1) with trim_blocks=True, lstrip_blocks=True:
 *  - the source's newlines (\r\n, \r, \n) become \n and one trailing newline
 *    is dropped (keep_trailing_newline=False);
 *  - "{%-" / "{{-" / "{#-" strip all whitespace before the tag; "-%}" / "-}}"
 *    / "-#}" strip all whitespace after it;
 *  - trim_blocks: one newline right after "%}" or "#}" is removed ("+%}" keeps it);
 *  - lstrip_blocks: spaces/tabs between the start of a line and "{%" or "{#"
 *    are removed ("{%+" keeps them); never for "{{".
 * Comments are dropped; {% raw %}...{% endraw %} becomes text.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok/tmpl_int.h"

/* ---- arena ------------------------------------------------------------ */
struct tmpl_chunk {
    struct tmpl_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

void *smelt_tmpli_alloc(struct tmpl_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    struct tmpl_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t want = n > 60000 ? n : 60000;
        if (a->total + want > a->cap) {
            smelt_err(SMELT_ERR_NOMEM, "template: memory limit of %zu bytes reached", a->cap);
            return NULL;
        }
        c = malloc(sizeof *c + want);
        if (!c) {
            smelt_err(SMELT_ERR_NOMEM, "template: out of memory");
            return NULL;
        }
        c->size = want;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        a->total += want;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void smelt_tmpli_arena_free(struct tmpl_arena *a) {
    struct tmpl_chunk *c = a->head;
    while (c) {
        struct tmpl_chunk *nx = c->next;
        free(c);
        c = nx;
    }
    a->head = NULL;
    a->total = 0;
}

/* ---- UTF-8 ------------------------------------------------------------ */
size_t smelt_tmpli_utf8_dec(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0) return 0;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    size_t len;
    uint32_t c, min;
    if ((u[0] & 0xE0) == 0xC0) len = 2, c = u[0] & 0x1F, min = 0x80;
    else if ((u[0] & 0xF0) == 0xE0) len = 3, c = u[0] & 0x0F, min = 0x800;
    else if ((u[0] & 0xF8) == 0xF0) len = 4, c = u[0] & 0x07, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (u[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

bool smelt_tmpli_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Length of the trailing whitespace of s[0..n) (Python rstrip). */
static size_t ws_suffix(const char *s, size_t n) {
    size_t end = n;
    while (end > 0) {
        size_t st = end - 1;
        while (st > 0 && ((unsigned char)s[st] & 0xC0) == 0x80 && end - st < 4) st--;
        uint32_t cp;
        if (smelt_tmpli_utf8_dec(s + st, end - st, &cp) != end - st || !smelt_tmpli_isspace(cp))
            break;
        end = st;
    }
    return n - end;
}

/* Length of the leading whitespace of s[0..n). */
static size_t ws_prefix(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = smelt_tmpli_utf8_dec(s + i, n - i, &cp);
        if (!l || !smelt_tmpli_isspace(cp)) break;
        i += l;
    }
    return i;
}

/* ---- lexer -------------------------------------------------------------- */
enum tok_type {
    K_EOF = 0,
    K_DATA,
    K_VAR_BEGIN,
    K_VAR_END,
    K_BLOCK_BEGIN,
    K_BLOCK_END,
    K_NAME,
    K_STRING,
    K_INT,
    K_FLOAT,
    K_OP,
};

struct tok {
    uint8_t type;
    int line, col;
    const char *p; /* name / op text / decoded string (arena) / data (arena) */
    size_t n;
    int64_t i;
    double f;
};

struct lexer {
    const char *s; /* normalised source */
    size_t n, pos;
    int line;
    size_t line_start;
    struct tok *toks;
    size_t ntok, cap;
    struct tmpl_arena *ar;
};

static enum smelt_status lex_err(struct lexer *L, size_t at, const char *msg) {
    int line = 1;
    size_t ls = 0;
    for (size_t i = 0; i < at && i < L->n; i++)
        if (L->s[i] == '\n') line++, ls = i + 1;
    return smelt_err(SMELT_ERR_FORMAT, "template:%d:%zu: %s", line, at - ls + 1, msg);
}

static void lex_pos(struct lexer *L, size_t at, int *line, int *col) {
    /* advance the running line counter to `at` */
    for (size_t i = L->pos; i < at; i++)
        if (L->s[i] == '\n') L->line++, L->line_start = i + 1;
    L->pos = at;
    *line = L->line;
    *col = (int)(at - L->line_start + 1);
}

static struct tok *push_tok(struct lexer *L, int type, size_t at) {
    if (L->ntok == L->cap) {
        size_t nc = L->cap ? L->cap * 2 : 256;
        struct tok *nt = realloc(L->toks, nc * sizeof *nt);
        if (!nt) {
            smelt_err(SMELT_ERR_NOMEM, "template: out of memory");
            return NULL;
        }
        L->toks = nt;
        L->cap = nc;
    }
    struct tok *t = &L->toks[L->ntok++];
    memset(t, 0, sizeof *t);
    t->type = (uint8_t)type;
    lex_pos(L, at, &t->line, &t->col);
    return t;
}

static int push_data(struct lexer *L, size_t at, const char *p, size_t n) {
    if (n == 0) return 0;
    struct tok *t = push_tok(L, K_DATA, at);
    if (!t) return -1;
    char *c = smelt_tmpli_alloc(L->ar, n + 1);
    if (!c) return -1;
    memcpy(c, p, n);
    t->p = c;
    t->n = n;
    return 0;
}

static bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static void put_utf8(char *out, size_t *o, uint32_t cp) {
    if (cp < 0x80) out[(*o)++] = (char)cp;
    else if (cp < 0x800) {
        out[(*o)++] = (char)(0xC0 | (cp >> 6));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out[(*o)++] = (char)(0xE0 | (cp >> 12));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*o)++] = (char)(0xF0 | (cp >> 18));
        out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* String literal starting at L->s[i] (the quote). Escapes as Python's
 * "unicode-escape" codec (what jinja2 applies): \\ \' \" \n \t \r \a \b \f \v
 * \ooo \xhh \uXXXX \UXXXXXXXX \<newline>; unknown escapes stay as written. */
static int lex_string(struct lexer *L, size_t i, size_t *end) {
    char q = L->s[i];
    size_t j = i + 1;
    while (j < L->n && L->s[j] != q) {
        if (L->s[j] == '\\' && j + 1 < L->n) j++;
        j++;
    }
    if (j >= L->n) {
        lex_err(L, i, "unterminated string literal");
        return -1;
    }
    const char *s = L->s + i + 1;
    size_t n = j - i - 1;
    char *out = smelt_tmpli_alloc(L->ar, n + 1);
    if (!out) return -1;
    size_t o = 0;
    for (size_t k = 0; k < n; k++) {
        char c = s[k];
        if (c != '\\' || k + 1 >= n) {
            out[o++] = c;
            continue;
        }
        char e = s[k + 1];
        int ndig = 0;
        switch (e) {
        case '\\': out[o++] = '\\'; k++; continue;
        case '\'': out[o++] = '\''; k++; continue;
        case '"': out[o++] = '"'; k++; continue;
        case 'n': out[o++] = '\n'; k++; continue;
        case 't': out[o++] = '\t'; k++; continue;
        case 'r': out[o++] = '\r'; k++; continue;
        case 'a': out[o++] = '\a'; k++; continue;
        case 'b': out[o++] = '\b'; k++; continue;
        case 'f': out[o++] = '\f'; k++; continue;
        case 'v': out[o++] = '\v'; k++; continue;
        case '\n': k++; continue;
        case 'x': ndig = 2; break;
        case 'u': ndig = 4; break;
        case 'U': ndig = 8; break;
        case 'N': lex_err(L, i + 1 + k, "named unicode escapes (\\N{...}) are not supported"); return -1;
        default: break;
        }
        if (e >= '0' && e <= '7') {
            uint32_t v = 0;
            size_t m = k + 1;
            for (int d = 0; d < 3 && m < n && s[m] >= '0' && s[m] <= '7'; d++, m++)
                v = v * 8 + (uint32_t)(s[m] - '0');
            put_utf8(out, &o, v); /* at most 0777 -> 2 bytes, input had >= 2 */
            k = m - 1;
            continue;
        }
        if (ndig) {
            uint32_t v = 0;
            bool ok = k + 2 + (size_t)ndig <= n;
            for (int d = 0; ok && d < ndig; d++) {
                int h = hexval(s[k + 2 + (size_t)d]);
                if (h < 0) ok = false;
                else v = v * 16 + (uint32_t)h;
            }
            if (!ok || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
                lex_err(L, i + 1 + k, "invalid escape sequence in string literal");
                return -1;
            }
            put_utf8(out, &o, v); /* <= 4 bytes, input used >= 4 */
            k += 1 + (size_t)ndig;
            continue;
        }
        out[o++] = '\\'; /* unknown escape: kept */
    }
    struct tok *t = push_tok(L, K_STRING, i);
    if (!t) return -1;
    t->p = out;
    t->n = o;
    *end = j + 1;
    return 0;
}

static int lex_number(struct lexer *L, size_t i, size_t *end) {
    const char *s = L->s;
    size_t j = i;
    char buf[128];
    size_t b = 0;
    bool is_float = false;
    if (s[j] == '0' && j + 1 < L->n && (s[j + 1] == 'x' || s[j + 1] == 'X' || s[j + 1] == 'o' ||
                                        s[j + 1] == 'O' || s[j + 1] == 'b' || s[j + 1] == 'B')) {
        int base = (s[j + 1] | 0x20) == 'x' ? 16 : (s[j + 1] | 0x20) == 'o' ? 8 : 2;
        j += 2;
        uint64_t v = 0;
        size_t nd = 0;
        while (j < L->n && (hexval(s[j]) >= 0 || s[j] == '_')) {
            if (s[j] != '_') {
                int h = hexval(s[j]);
                if (h >= base) break;
                if (v > (uint64_t)INT64_MAX / (uint64_t)base) {
                    lex_err(L, i, "integer literal too large");
                    return -1;
                }
                v = v * (uint64_t)base + (uint64_t)h;
                nd++;
            }
            j++;
        }
        if (!nd || v > (uint64_t)INT64_MAX) {
            lex_err(L, i, "invalid integer literal");
            return -1;
        }
        struct tok *t = push_tok(L, K_INT, i);
        if (!t) return -1;
        t->i = (int64_t)v;
        *end = j;
        return 0;
    }
    while (j < L->n && (is_digit(s[j]) || (s[j] == '_' && j + 1 < L->n && is_digit(s[j + 1])))) {
        if (s[j] != '_' && b < sizeof buf - 1) buf[b++] = s[j];
        j++;
    }
    /* jinja2 tries a float first; an integer with a leading 0 is only "0(_?0)*" */
    bool float_follows = (j + 1 < L->n && s[j] == '.' && is_digit(s[j + 1])) ||
                         (j + 1 < L->n && (s[j] == 'e' || s[j] == 'E') &&
                          (is_digit(s[j + 1]) || ((s[j + 1] == '+' || s[j + 1] == '-') &&
                                                  j + 2 < L->n && is_digit(s[j + 2]))));
    if (!float_follows && s[i] == '0') {
        j = i + 1;
        while (j < L->n && (s[j] == '0' || (s[j] == '_' && j + 1 < L->n && s[j + 1] == '0'))) j++;
        b = 1;
        buf[0] = '0';
    }
    if (j + 1 < L->n && s[j] == '.' && is_digit(s[j + 1])) {
        is_float = true;
        buf[b < sizeof buf - 1 ? b++ : b] = '.';
        j++;
        while (j < L->n && (is_digit(s[j]) || (s[j] == '_' && j + 1 < L->n && is_digit(s[j + 1])))) {
            if (s[j] != '_' && b < sizeof buf - 1) buf[b++] = s[j];
            j++;
        }
    }
    if (j < L->n && (s[j] == 'e' || s[j] == 'E')) {
        size_t k = j + 1;
        if (k < L->n && (s[k] == '+' || s[k] == '-')) k++;
        if (k < L->n && is_digit(s[k])) {
            is_float = true;
            if (b < sizeof buf - 1) buf[b++] = 'e';
            if (s[j + 1] == '-' && b < sizeof buf - 1) buf[b++] = '-';
            j = k;
            while (j < L->n && (is_digit(s[j]) || (s[j] == '_' && j + 1 < L->n && is_digit(s[j + 1])))) {
                if (s[j] != '_' && b < sizeof buf - 1) buf[b++] = s[j];
                j++;
            }
        }
    }
    if (b >= sizeof buf - 1) {
        lex_err(L, i, "numeric literal too long");
        return -1;
    }
    buf[b] = 0;
    struct tok *t = push_tok(L, is_float ? K_FLOAT : K_INT, i);
    if (!t) return -1;
    errno = 0;
    if (is_float) {
        t->f = strtod(buf, NULL);
    } else {
        long long v = strtoll(buf, NULL, 10);
        if (errno == ERANGE) {
            lex_err(L, i, "integer literal too large");
            return -1;
        }
        t->i = v;
    }
    *end = j;
    return 0;
}

static const char *const OPS2[] = {"//", "**", "==", "!=", ">=", "<="};
static const char OPS1[] = "+-/*%~[](){}><=.:|,;";

/* Lex the inside of a tag starting at i up to and including its end
 * delimiter; kind is K_VAR_BEGIN or K_BLOCK_BEGIN. Sets *after to the
 * position after the end (and after whitespace consumed by "-" or trim). */
static int lex_tag(struct lexer *L, size_t i, int kind, size_t *after, bool *ends_nl) {
    int depth = 0;
    const char *s = L->s;
    size_t j = i;
    for (;;) {
        while (j < L->n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r' ||
                            s[j] == '\f' || s[j] == '\v'))
            j++;
        if (j >= L->n) {
            lex_err(L, i, kind == K_VAR_BEGIN ? "unexpected end of template, expected '}}'"
                                              : "unexpected end of template, expected '%}'");
            return -1;
        }
        if (depth == 0) {
            char e = kind == K_VAR_BEGIN ? '}' : '%';
            size_t k = j;
            int sign = 0;
            if ((s[k] == '-' || s[k] == '+') && k + 2 < L->n && s[k + 1] == e && s[k + 2] == '}')
                sign = s[k], k++;
            if (kind == K_VAR_BEGIN && sign == '+') sign = 0, k = j; /* "+}}" is not an end */
            if (k + 1 < L->n && s[k] == e && s[k + 1] == '}') {
                if (!push_tok(L, kind == K_VAR_BEGIN ? K_VAR_END : K_BLOCK_END, j)) return -1;
                size_t a = k + 2;
                if (sign == '-') a += ws_prefix(s + a, L->n - a);
                else if (sign != '+' && kind == K_BLOCK_BEGIN && a < L->n && s[a] == '\n') a++;
                *after = a;
                *ends_nl = a > 0 && s[a - 1] == '\n';
                return 0;
            }
        }
        char c = s[j];
        if (c == '\'' || c == '"') {
            if (lex_string(L, j, &j)) return -1;
            continue;
        }
        if (is_digit(c)) {
            if (lex_number(L, j, &j)) return -1;
            continue;
        }
        if (is_name_start(c)) {
            size_t k = j;
            while (k < L->n && is_name_char(s[k])) k++;
            struct tok *t = push_tok(L, K_NAME, j);
            if (!t) return -1;
            t->p = s + j;
            t->n = k - j;
            j = k;
            continue;
        }
        size_t oplen = 0;
        for (size_t o = 0; o < sizeof OPS2 / sizeof *OPS2; o++)
            if (j + 1 < L->n && s[j] == OPS2[o][0] && s[j + 1] == OPS2[o][1]) oplen = 2;
        if (!oplen && strchr(OPS1, c) && c) oplen = 1;
        if (!oplen) {
            lex_err(L, j, "unexpected character in tag");
            return -1;
        }
        if (oplen == 1) {
            if (c == '(' || c == '[' || c == '{') depth++;
            else if (c == ')' || c == ']' || c == '}') {
                if (depth == 0) {
                    lex_err(L, j, "unbalanced closing bracket");
                    return -1;
                }
                depth--;
            }
        }
        struct tok *t = push_tok(L, K_OP, j);
        if (!t) return -1;
        t->p = s + j;
        t->n = oplen;
        j += oplen;
    }
}

/* Is s[i..] "{%[-+]? raw [-]?%}" ? Returns the end position (after "%}") or 0. */
static size_t match_word_tag(const char *s, size_t n, size_t i, const char *word, int *lsign,
                             int *rsign) {
    if (i + 2 > n || s[i] != '{' || s[i + 1] != '%') return 0;
    size_t j = i + 2;
    *lsign = 0;
    if (j < n && (s[j] == '-' || s[j] == '+')) *lsign = s[j++];
    while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n')) j++;
    size_t wl = strlen(word);
    if (j + wl > n || memcmp(s + j, word, wl) != 0) return 0;
    j += wl;
    if (j < n && is_name_char(s[j])) return 0;
    while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n')) j++;
    *rsign = 0;
    if (j < n && (s[j] == '-' || s[j] == '+')) *rsign = s[j++];
    if (j + 2 > n || s[j] != '%' || s[j + 1] != '}') return 0;
    return j + 2;
}

static int lex_all(struct lexer *L) {
    const char *s = L->s;
    size_t pos = 0;
    bool line_starting = true;
    while (pos < L->n) {
        /* find the next tag start */
        size_t k = pos;
        const char *hit = NULL;
        while (k + 1 < L->n) {
            const char *q = memchr(s + k, '{', L->n - k - 1);
            if (!q) break;
            size_t qi = (size_t)(q - s);
            char c2 = s[qi + 1];
            if (c2 == '{' || c2 == '%' || c2 == '#') {
                hit = q;
                break;
            }
            k = qi + 1;
        }
        if (!hit) {
            if (push_data(L, pos, s + pos, L->n - pos)) return -1;
            break;
        }
        size_t ti = (size_t)(hit - s);
        char kind = s[ti + 1];
        int sign = (ti + 2 < L->n && (s[ti + 2] == '-' || s[ti + 2] == '+')) ? s[ti + 2] : 0;
        size_t tn = ti - pos; /* text length */
        if (sign == '-') {
            tn -= ws_suffix(s + pos, tn);
        } else if (sign != '+' && kind != '{') {
            size_t lp = 0;
            for (size_t q = tn; q > 0; q--)
                if (s[pos + q - 1] == '\n') {
                    lp = q;
                    break;
                }
            if ((lp > 0 || line_starting) && lp < tn) {
                bool all_ws = true;
                size_t q = pos + lp;
                while (q < pos + tn) {
                    uint32_t cp;
                    size_t l = smelt_tmpli_utf8_dec(s + q, pos + tn - q, &cp);
                    if (!l || !smelt_tmpli_isspace(cp)) {
                        all_ws = false;
                        break;
                    }
                    q += l;
                }
                if (all_ws) tn = lp;
            }
        }
        if (push_data(L, pos, s + pos, tn)) return -1;
        size_t body = ti + 2 + (sign ? 1 : 0);
        if (kind == '#') {
            /* comment: up to the first "#}" (with optional - or + before it) */
            size_t j = body;
            size_t end = 0;
            int rs = 0;
            while (j + 1 < L->n) {
                if (s[j] == '#' && s[j + 1] == '}') {
                    end = j + 2;
                    if (j > body && (s[j - 1] == '-' || s[j - 1] == '+')) rs = s[j - 1];
                    break;
                }
                j++;
            }
            if (!end && body >= L->n) break; /* jinja2: a comment opener at the very end is ignored */
            if (!end) {
                lex_err(L, ti, "unterminated comment");
                return -1;
            }
            if (rs == '-') end += ws_prefix(s + end, L->n - end);
            else if (rs != '+' && end < L->n && s[end] == '\n') end++;
            line_starting = end > 0 && s[end - 1] == '\n';
            pos = end;
            continue;
        }
        if (kind == '%') {
            int ls, rs;
            size_t re = match_word_tag(s, L->n, ti, "raw", &ls, &rs);
            if (re) {
                if (rs == '-') re += ws_prefix(s + re, L->n - re);
                /* find {% endraw %} */
                size_t j = re;
                size_t ee = 0;
                int els = 0, ers = 0;
                while (j < L->n) {
                    const char *q = memchr(s + j, '{', L->n - j);
                    if (!q) break;
                    j = (size_t)(q - s);
                    ee = match_word_tag(s, L->n, j, "endraw", &els, &ers);
                    if (ee) break;
                    j++;
                }
                if (!ee) {
                    lex_err(L, ti, "missing {% endraw %}");
                    return -1;
                }
                size_t rn = j - re;
                if (els == '-') rn -= ws_suffix(s + re, rn);
                if (push_data(L, re, s + re, rn)) return -1;
                if (ers == '-') ee += ws_prefix(s + ee, L->n - ee);
                else if (ers != '+' && ee < L->n && s[ee] == '\n') ee++;
                line_starting = ee > 0 && s[ee - 1] == '\n';
                pos = ee;
                continue;
            }
        }
        int tk = kind == '{' ? K_VAR_BEGIN : K_BLOCK_BEGIN;
        if (!push_tok(L, tk, ti)) return -1;
        size_t after;
        bool nl;
        if (lex_tag(L, body, tk, &after, &nl)) return -1;
        line_starting = nl;
        pos = after;
    }
    return push_tok(L, K_EOF, L->n) ? 0 : -1;
}

/* ---- parser ------------------------------------------------------------- */
struct parser {
    struct lexer *L;
    struct tok *t;
    size_t i, n;
    struct tmpl_arena *ar;
    int depth;
    int in_for;     /* for-loop bodies enclosing the cursor (macros included) */
    int loop_depth; /* for-loop bodies enclosing the cursor within the current macro */
};

static struct tok *cur(struct parser *P) { return &P->t[P->i < P->n ? P->i : P->n - 1]; }
static struct tok *peek(struct parser *P, size_t k) {
    size_t j = P->i + k;
    return &P->t[j < P->n ? j : P->n - 1];
}
static void adv(struct parser *P) {
    if (P->i < P->n - 1) P->i++;
}

static int perr(struct parser *P, const char *fmt, const char *arg) {
    struct tok *t = cur(P);
    char msg[256];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    smelt_err(SMELT_ERR_FORMAT, "template:%d:%d: %s", t->line, t->col, msg);
    return -1;
}

/* jinja2 refuses to assign `loop` inside a for loop (or as a loop target). */
static int check_loop_target(struct parser *P, const struct tmpl_node *tg, bool is_for) {
    if (!is_for && !P->in_for) return 0;
    if (tg->kind == TE_NAME && strcmp(tg->name, "loop") == 0)
        return perr(P, "can't assign to special loop variable in for-loop target%s", "");
    if (tg->kind == TE_TUPLE)
        for (size_t i = 0; i < tg->nargs; i++)
            if (check_loop_target(P, tg->args[i], is_for)) return -1;
    return 0;
}

static bool is_op(struct tok *t, const char *op) {
    return t->type == K_OP && t->n == strlen(op) && memcmp(t->p, op, t->n) == 0;
}
static bool is_name(struct tok *t, const char *nm) {
    return t->type == K_NAME && t->n == strlen(nm) && memcmp(t->p, nm, t->n) == 0;
}

static int expect_op(struct parser *P, const char *op) {
    if (!is_op(cur(P), op)) return perr(P, "expected '%s'", op);
    adv(P);
    return 0;
}

static struct tmpl_node *new_node(struct parser *P, int kind) {
    struct tmpl_node *n = smelt_tmpli_alloc(P->ar, sizeof *n);
    if (!n) return NULL;
    n->kind = (uint8_t)kind;
    n->line = cur(P)->line;
    return n;
}

static const char *dup_name(struct parser *P, struct tok *t) {
    char *s = smelt_tmpli_alloc(P->ar, t->n + 1);
    if (!s) return NULL;
    memcpy(s, t->p, t->n);
    return s;
}

/* growable node-pointer array in the arena */
struct nvec {
    struct tmpl_node **v;
    const char **names;
    size_t n, cap;
};
static int nvec_push(struct parser *P, struct nvec *a, struct tmpl_node *x, const char *name) {
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 4;
        struct tmpl_node **nv = smelt_tmpli_alloc(P->ar, nc * sizeof *nv);
        const char **nn = smelt_tmpli_alloc(P->ar, nc * sizeof *nn);
        if (!nv || !nn) return -1;
        if (a->n) {
            memcpy(nv, a->v, a->n * sizeof *nv);
            memcpy(nn, a->names, a->n * sizeof *nn);
        }
        a->v = nv;
        a->names = nn;
        a->cap = nc;
    }
    a->v[a->n] = x;
    a->names[a->n] = name;
    a->n++;
    return 0;
}

static struct tmpl_node *parse_expr(struct parser *P);
static struct tmpl_node *parse_or(struct parser *P);
static struct tmpl_node *parse_unary(struct parser *P, bool with_filter);
static struct tmpl_node *parse_primary(struct parser *P);
static struct tmpl_node *parse_postfix(struct parser *P, struct tmpl_node *n);

static int enter(struct parser *P) {
    if (++P->depth > TMPL_MAX_PARSE_DEPTH) {
        perr(P, "template nesting too deep%s", "");
        return -1;
    }
    return 0;
}

/* call arguments after '(' up to ')' */
static int parse_args(struct parser *P, struct nvec *args) {
    if (expect_op(P, "(")) return -1;
    bool kw_seen = false;
    while (!is_op(cur(P), ")")) {
        if (args->n) {
            if (expect_op(P, ",")) return -1;
            if (is_op(cur(P), ")")) break;
        }
        const char *kw = NULL;
        if (cur(P)->type == K_NAME && is_op(peek(P, 1), "=")) {
            kw = dup_name(P, cur(P));
            if (!kw) return -1;
            adv(P);
            adv(P);
            kw_seen = true;
        } else if (kw_seen) {
            return perr(P, "positional argument after keyword argument%s", "");
        }
        struct tmpl_node *e = parse_expr(P);
        if (!e || nvec_push(P, args, e, kw)) return -1;
    }
    adv(P);
    return 0;
}

static struct tmpl_node *parse_primary(struct parser *P) {
    struct tok *t = cur(P);
    struct tmpl_node *n;
    if (enter(P)) return NULL;
    if (t->type == K_NAME) {
        if (is_name(t, "true") || is_name(t, "True") || is_name(t, "false") || is_name(t, "False")) {
            if (!(n = new_node(P, TE_LIT))) return NULL;
            n->lit.t = TV_BOOL;
            n->lit.u.b = t->p[0] == 't' || t->p[0] == 'T';
        } else if (is_name(t, "none") || is_name(t, "None")) {
            if (!(n = new_node(P, TE_LIT))) return NULL;
            n->lit.t = TV_NONE;
        } else {
            if (!(n = new_node(P, TE_NAME)) || !(n->name = dup_name(P, t))) return NULL;
        }
        adv(P);
    } else if (t->type == K_STRING) {
        /* adjacent string literals concatenate */
        size_t total = 0, k = P->i;
        while (k < P->n && P->t[k].type == K_STRING) total += P->t[k++].n;
        char *s = smelt_tmpli_alloc(P->ar, total + 1);
        if (!s || !(n = new_node(P, TE_LIT))) return NULL;
        size_t o = 0;
        while (cur(P)->type == K_STRING) {
            memcpy(s + o, cur(P)->p, cur(P)->n);
            o += cur(P)->n;
            adv(P);
        }
        n->lit.t = TV_STR;
        n->lit.u.s.p = s;
        n->lit.u.s.n = o;
    } else if (t->type == K_INT || t->type == K_FLOAT) {
        if (!(n = new_node(P, TE_LIT))) return NULL;
        if (t->type == K_INT) n->lit.t = TV_INT, n->lit.u.i = t->i;
        else n->lit.t = TV_FLOAT, n->lit.u.f = t->f;
        adv(P);
    } else if (is_op(t, "(")) {
        adv(P);
        if (is_op(cur(P), ")")) { /* empty tuple */
            adv(P);
            if (!(n = new_node(P, TE_TUPLE))) return NULL;
        } else {
            struct tmpl_node *e = parse_expr(P);
            if (!e) return NULL;
            if (is_op(cur(P), ",")) {
                struct nvec v = {0};
                if (nvec_push(P, &v, e, NULL)) return NULL;
                while (is_op(cur(P), ",")) {
                    adv(P);
                    if (is_op(cur(P), ")")) break;
                    struct tmpl_node *x = parse_expr(P);
                    if (!x || nvec_push(P, &v, x, NULL)) return NULL;
                }
                if (!(n = new_node(P, TE_TUPLE))) return NULL;
                n->args = v.v;
                n->nargs = v.n;
            } else {
                n = e;
            }
            if (expect_op(P, ")")) return NULL;
        }
    } else if (is_op(t, "[")) {
        adv(P);
        struct nvec v = {0};
        while (!is_op(cur(P), "]")) {
            if (v.n && expect_op(P, ",")) return NULL;
            if (is_op(cur(P), "]")) break;
            struct tmpl_node *x = parse_expr(P);
            if (!x || nvec_push(P, &v, x, NULL)) return NULL;
        }
        adv(P);
        if (!(n = new_node(P, TE_LIST))) return NULL;
        n->args = v.v;
        n->nargs = v.n;
    } else if (is_op(t, "{")) {
        adv(P);
        struct nvec v = {0};
        while (!is_op(cur(P), "}")) {
            if (v.n && expect_op(P, ",")) return NULL;
            if (is_op(cur(P), "}")) break;
            struct tmpl_node *k = parse_expr(P);
            if (!k || expect_op(P, ":")) return NULL;
            struct tmpl_node *x = parse_expr(P);
            if (!x || nvec_push(P, &v, k, NULL) || nvec_push(P, &v, x, NULL)) return NULL;
        }
        adv(P);
        if (!(n = new_node(P, TE_DICT))) return NULL;
        n->args = v.v;
        n->nargs = v.n;
    } else {
        const char *what = t->type == K_EOF ? "end of template"
                           : t->type == K_VAR_END || t->type == K_BLOCK_END ? "end of tag"
                                                                             : "token";
        perr(P, "unexpected %s in expression", what);
        return NULL;
    }
    P->depth--;
    return n;
}

static struct tmpl_node *parse_subscript_part(struct parser *P, bool *is_slice,
                                              struct tmpl_node **parts) {
    /* parts[0..2] = start, stop, step ; returns the single index if not a slice */
    *is_slice = false;
    struct tmpl_node *first = NULL;
    if (!is_op(cur(P), ":")) {
        first = parse_expr(P);
        if (!first) return NULL;
    }
    if (!is_op(cur(P), ":")) return first;
    *is_slice = true;
    parts[0] = first;
    adv(P);
    if (!is_op(cur(P), "]") && !is_op(cur(P), ":")) {
        if (!(parts[1] = parse_expr(P))) return NULL;
    }
    if (is_op(cur(P), ":")) {
        adv(P);
        if (!is_op(cur(P), "]")) {
            if (!(parts[2] = parse_expr(P))) return NULL;
        }
    }
    return (struct tmpl_node *)1; /* non-NULL marker */
}

static struct tmpl_node *parse_postfix(struct parser *P, struct tmpl_node *n) {
    for (;;) {
        struct tok *t = cur(P);
        if (is_op(t, ".")) {
            adv(P);
            struct tok *a = cur(P);
            struct tmpl_node *x;
            if (a->type == K_NAME) {
                if (!(x = new_node(P, TE_ATTR)) || !(x->name = dup_name(P, a))) return NULL;
            } else if (a->type == K_INT) {
                /* foo.0 == foo[0] */
                if (!(x = new_node(P, TE_ITEM))) return NULL;
                struct tmpl_node *ix = new_node(P, TE_LIT);
                if (!ix) return NULL;
                ix->lit.t = TV_INT;
                ix->lit.u.i = a->i;
                x->b = ix;
            } else {
                perr(P, "expected attribute name after '.'%s", "");
                return NULL;
            }
            adv(P);
            x->a = n;
            n = x;
        } else if (is_op(t, "[")) {
            adv(P);
            bool sl;
            struct tmpl_node *parts[3] = {0};
            struct tmpl_node *ix = parse_subscript_part(P, &sl, parts);
            if (!ix || expect_op(P, "]")) return NULL;
            struct tmpl_node *x = new_node(P, sl ? TE_SLICE : TE_ITEM);
            if (!x) return NULL;
            x->a = n;
            if (sl) {
                x->args = smelt_tmpli_alloc(P->ar, 3 * sizeof *x->args);
                if (!x->args) return NULL;
                memcpy(x->args, parts, sizeof parts);
                x->nargs = 3;
            } else {
                x->b = ix;
            }
            n = x;
        } else if (is_op(t, "(")) {
            struct tmpl_node *x = new_node(P, TE_CALL);
            struct nvec v = {0};
            if (!x || parse_args(P, &v)) return NULL;
            x->a = n;
            x->args = v.v;
            x->argnames = v.names;
            x->nargs = v.n;
            n = x;
        } else {
            return n;
        }
    }
}

static struct tmpl_node *parse_filter_expr(struct parser *P, struct tmpl_node *n) {
    for (;;) {
        struct tok *t = cur(P);
        if (is_op(t, "|")) {
            adv(P);
            if (cur(P)->type != K_NAME) {
                perr(P, "expected filter name after '|'%s", "");
                return NULL;
            }
            struct tmpl_node *x = new_node(P, TE_FILTER);
            if (!x || !(x->name = dup_name(P, cur(P)))) return NULL;
            if (!smelt_tmpli_known(x->name, false)) {
                perr(P, "no filter named '%s'", x->name);
                return NULL;
            }
            adv(P);
            if (is_op(cur(P), ".") && peek(P, 1)->type == K_NAME) { /* dotted names: none builtin */
                perr(P, "no filter named '%s.'", x->name);
                return NULL;
            }
            if (is_op(cur(P), "(")) {
                struct nvec v = {0};
                if (parse_args(P, &v)) return NULL;
                x->args = v.v;
                x->argnames = v.names;
                x->nargs = v.n;
            }
            x->a = n;
            n = x;
        } else if (is_name(t, "is")) {
            adv(P);
            struct tmpl_node *x = new_node(P, TE_TEST);
            if (!x) return NULL;
            if (is_name(cur(P), "not")) {
                x->op = 1;
                adv(P);
            }
            if (cur(P)->type != K_NAME) {
                perr(P, "expected test name after 'is'%s", "");
                return NULL;
            }
            if (!(x->name = dup_name(P, cur(P)))) return NULL;
            if (!smelt_tmpli_known(x->name, true)) {
                perr(P, "no test named '%s'", x->name);
                return NULL;
            }
            adv(P);
            struct tok *a = cur(P);
            if (is_op(a, "(")) {
                struct nvec v = {0};
                if (parse_args(P, &v)) return NULL;
                x->args = v.v;
                x->argnames = v.names;
                x->nargs = v.n;
            } else if ((a->type == K_NAME || a->type == K_STRING || a->type == K_INT ||
                        a->type == K_FLOAT || is_op(a, "[") || is_op(a, "{")) &&
                       !is_name(a, "else") && !is_name(a, "or") && !is_name(a, "and") &&
                       !is_name(a, "is") && !is_name(a, "if") && !is_name(a, "in") &&
                       !is_name(a, "not")) {
                struct tmpl_node *arg = parse_primary(P);
                if (!arg || !(arg = parse_postfix(P, arg))) return NULL;
                x->args = smelt_tmpli_alloc(P->ar, sizeof *x->args);
                if (!x->args) return NULL;
                x->args[0] = arg;
                x->nargs = 1;
            }
            x->a = n;
            n = x;
            if (is_name(cur(P), "is")) {
                perr(P, "you cannot chain multiple tests with is%s", "");
                return NULL;
            }
        } else if (is_op(t, "(")) {
            n = parse_postfix(P, n);
            if (!n) return NULL;
        } else {
            return n;
        }
    }
}

static struct tmpl_node *parse_unary(struct parser *P, bool with_filter) {
    struct tmpl_node *n;
    if (enter(P)) return NULL;
    if (is_op(cur(P), "-") || is_op(cur(P), "+")) {
        int k = is_op(cur(P), "-") ? TE_NEG : TE_POS;
        adv(P);
        if (!(n = new_node(P, k)) || !(n->a = parse_unary(P, false))) return NULL;
    } else {
        if (!(n = parse_primary(P))) return NULL;
    }
    if (!(n = parse_postfix(P, n))) return NULL;
    if (with_filter && !(n = parse_filter_expr(P, n))) return NULL;
    P->depth--;
    return n;
}

static struct tmpl_node *bin(struct parser *P, int kind, int op, struct tmpl_node *a,
                             struct tmpl_node *b) {
    if (!a || !b) return NULL;
    struct tmpl_node *n = new_node(P, kind);
    if (!n) return NULL;
    n->op = (uint8_t)op;
    n->a = a;
    n->b = b;
    return n;
}

static struct tmpl_node *parse_pow(struct parser *P) {
    struct tmpl_node *n = parse_unary(P, true);
    while (n && is_op(cur(P), "**")) {
        adv(P);
        n = bin(P, TE_BIN, TB_POW, n, parse_unary(P, true));
    }
    return n;
}

static struct tmpl_node *parse_math2(struct parser *P) {
    struct tmpl_node *n = parse_pow(P);
    for (;;) {
        int op = is_op(cur(P), "*") ? TB_MUL : is_op(cur(P), "/") ? TB_DIV
                 : is_op(cur(P), "//") ? TB_FLOORDIV : is_op(cur(P), "%") ? TB_MOD : 0;
        if (!n || !op) return n;
        adv(P);
        n = bin(P, TE_BIN, op, n, parse_pow(P));
    }
}

static struct tmpl_node *parse_concat(struct parser *P) {
    struct tmpl_node *n = parse_math2(P);
    while (n && is_op(cur(P), "~")) {
        adv(P);
        n = bin(P, TE_BIN, TB_CONCAT, n, parse_math2(P));
    }
    return n;
}

static struct tmpl_node *parse_math1(struct parser *P) {
    struct tmpl_node *n = parse_concat(P);
    for (;;) {
        int op = is_op(cur(P), "+") ? TB_ADD : is_op(cur(P), "-") ? TB_SUB : 0;
        if (!n || !op) return n;
        adv(P);
        n = bin(P, TE_BIN, op, n, parse_concat(P));
    }
}

static struct tmpl_node *parse_compare(struct parser *P) {
    struct tmpl_node *n = parse_math1(P);
    struct tmpl_node *result = NULL; /* chained comparisons: a < b < c */
    struct tmpl_node *left = n;
    for (;;) {
        struct tok *t = cur(P);
        int op = is_op(t, "==") ? TB_EQ : is_op(t, "!=") ? TB_NE : is_op(t, "<") ? TB_LT
                 : is_op(t, "<=") ? TB_LE : is_op(t, ">") ? TB_GT : is_op(t, ">=") ? TB_GE
                 : is_name(t, "in") ? TB_IN : 0;
        if (!op && is_name(t, "not") && is_name(peek(P, 1), "in")) {
            op = TB_NOTIN;
            adv(P);
        }
        if (!left || !op) break;
        adv(P);
        struct tmpl_node *right = parse_math1(P);
        struct tmpl_node *c = bin(P, TE_BIN, op, left, right);
        if (!c) return NULL;
        result = result ? bin(P, TE_AND, 0, result, c) : c;
        if (!result) return NULL;
        left = right;
    }
    if (!left) return NULL;
    return result ? result : n;
}

static struct tmpl_node *parse_not(struct parser *P) {
    if (is_name(cur(P), "not")) {
        if (enter(P)) return NULL;
        adv(P);
        struct tmpl_node *n = new_node(P, TE_NOT);
        if (!n || !(n->a = parse_not(P))) return NULL;
        P->depth--;
        return n;
    }
    return parse_compare(P);
}

static struct tmpl_node *parse_and(struct parser *P) {
    struct tmpl_node *n = parse_not(P);
    while (n && is_name(cur(P), "and")) {
        adv(P);
        n = bin(P, TE_AND, 0, n, parse_not(P));
    }
    return n;
}

static struct tmpl_node *parse_or(struct parser *P) {
    struct tmpl_node *n = parse_and(P);
    while (n && is_name(cur(P), "or")) {
        adv(P);
        n = bin(P, TE_OR, 0, n, parse_and(P));
    }
    return n;
}

static struct tmpl_node *parse_expr(struct parser *P) {
    if (enter(P)) return NULL;
    struct tmpl_node *n = parse_or(P);
    while (n && is_name(cur(P), "if")) {
        adv(P);
        struct tmpl_node *c = new_node(P, TE_COND);
        if (!c) return NULL;
        c->b = n;
        if (!(c->a = parse_or(P))) return NULL;
        if (is_name(cur(P), "else")) {
            adv(P);
            if (!(c->c = parse_expr(P))) return NULL;
        }
        n = c;
    }
    P->depth--;
    return n;
}

/* ---- statements --------------------------------------------------------- */
static int expect_block_end(struct parser *P) {
    if (cur(P)->type != K_BLOCK_END) return perr(P, "expected end of statement '%%}'%s", "");
    adv(P);
    return 0;
}

/* Parse statements until a block tag whose name is one of `ends` (NULL-terminated);
 * leaves the cursor on that name. ends == NULL: until EOF. */
static int parse_body(struct parser *P, const char *const *ends, struct tmpl_node **out);

static struct tmpl_node *parse_target(struct parser *P, bool allow_attr) {
    struct nvec v = {0};
    for (;;) {
        struct tok *t = cur(P);
        if (t->type != K_NAME) {
            perr(P, "expected a variable name%s", "");
            return NULL;
        }
        struct tmpl_node *x = new_node(P, TE_NAME);
        if (!x || !(x->name = dup_name(P, t))) return NULL;
        adv(P);
        if (allow_attr && is_op(cur(P), ".") && peek(P, 1)->type == K_NAME) {
            struct tmpl_node *a = new_node(P, TE_ATTR);
            if (!a) return NULL;
            adv(P);
            if (!(a->name = dup_name(P, cur(P)))) return NULL;
            adv(P);
            a->a = x;
            x = a;
        }
        if (nvec_push(P, &v, x, NULL)) return NULL;
        if (!is_op(cur(P), ",")) break;
        adv(P);
    }
    if (v.n == 1) return v.v[0];
    struct tmpl_node *tu = new_node(P, TE_TUPLE);
    if (!tu) return NULL;
    tu->args = v.v;
    tu->nargs = v.n;
    return tu;
}

static const char *const END_IF[] = {"elif", "else", "endif", NULL};
static const char *const END_FOR[] = {"else", "endfor", NULL};
static const char *const END_FOR2[] = {"endfor", NULL};
static const char *const END_SET[] = {"endset", NULL};
static const char *const END_MACRO[] = {"endmacro", NULL};
static const char *const END_GEN[] = {"endgeneration", NULL};

static struct tmpl_node *parse_if(struct parser *P) {
    struct tmpl_node *n = new_node(P, TN_IF);
    if (!n || !(n->a = parse_expr(P)) || expect_block_end(P)) return NULL;
    if (parse_body(P, END_IF, &n->body)) return NULL;
    if (is_name(cur(P), "elif")) {
        adv(P);
        struct tmpl_node *e = parse_if(P); /* consumes through endif */
        if (!e) return NULL;
        n->orelse = e;
        return n;
    }
    if (is_name(cur(P), "else")) {
        adv(P);
        if (expect_block_end(P)) return NULL;
        static const char *const END_IF2[] = {"endif", NULL};
        if (parse_body(P, END_IF2, &n->orelse)) return NULL;
    }
    adv(P); /* endif */
    if (expect_block_end(P)) return NULL;
    return n;
}

static struct tmpl_node *parse_stmt(struct parser *P) {
    struct tok *t = cur(P);
    if (t->type != K_NAME) {
        perr(P, "expected a statement name after '{%%'%s", "");
        return NULL;
    }
    struct tmpl_node *n;
    if (is_name(t, "if")) {
        adv(P);
        return parse_if(P);
    }
    if (is_name(t, "for")) {
        adv(P);
        if (!(n = new_node(P, TN_FOR))) return NULL;
        struct tmpl_node *tg = parse_target(P, false);
        if (!tg || check_loop_target(P, tg, true)) return NULL;
        if (tg->kind == TE_TUPLE) {
            n->args = tg->args;
            n->nargs = tg->nargs;
        } else {
            n->args = smelt_tmpli_alloc(P->ar, sizeof *n->args);
            if (!n->args) return NULL;
            n->args[0] = tg;
            n->nargs = 1;
        }
        if (!is_name(cur(P), "in")) {
            perr(P, "expected 'in' in for loop%s", "");
            return NULL;
        }
        adv(P);
        /* the iterable may not contain a bare conditional expression (jinja) */
        if (!(n->a = parse_or(P))) return NULL;
        if (is_name(cur(P), "if")) {
            adv(P);
            if (!(n->b = parse_expr(P))) return NULL;
        }
        if (is_name(cur(P), "recursive")) {
            perr(P, "recursive for loops are not supported%s", "");
            return NULL;
        }
        P->in_for++;
        P->loop_depth++;
        int br = expect_block_end(P) || parse_body(P, END_FOR, &n->body);
        P->in_for--;
        P->loop_depth--;
        if (br) return NULL;
        if (is_name(cur(P), "else")) {
            adv(P);
            if (expect_block_end(P) || parse_body(P, END_FOR2, &n->orelse)) return NULL;
        }
        adv(P);
        if (expect_block_end(P)) return NULL;
        return n;
    }
    if (is_name(t, "set")) {
        adv(P);
        struct tmpl_node *tg = parse_target(P, true);
        if (!tg || check_loop_target(P, tg, false)) return NULL;
        if (is_op(cur(P), "=")) {
            adv(P);
            if (!(n = new_node(P, TN_SET))) return NULL;
            struct tmpl_node *v = parse_expr(P);
            if (!v) return NULL;
            if (is_op(cur(P), ",")) { /* set a, b = 1, 2 */
                struct nvec vv = {0};
                if (nvec_push(P, &vv, v, NULL)) return NULL;
                while (is_op(cur(P), ",")) {
                    adv(P);
                    struct tmpl_node *x = parse_expr(P);
                    if (!x || nvec_push(P, &vv, x, NULL)) return NULL;
                }
                if (!(v = new_node(P, TE_TUPLE))) return NULL;
                v->args = vv.v;
                v->nargs = vv.n;
            }
            n->a = v;
        } else {
            if (!(n = new_node(P, TN_SETBLOCK))) return NULL;
            if (is_op(cur(P), "|")) {
                perr(P, "filtered block set is not supported%s", "");
                return NULL;
            }
            if (expect_block_end(P) || parse_body(P, END_SET, &n->body)) return NULL;
            adv(P);
        }
        n->args = smelt_tmpli_alloc(P->ar, sizeof *n->args);
        if (!n->args) return NULL;
        n->args[0] = tg;
        n->nargs = 1;
        if (expect_block_end(P)) return NULL;
        return n;
    }
    if (is_name(t, "macro")) {
        adv(P);
        if (cur(P)->type != K_NAME) {
            perr(P, "expected macro name%s", "");
            return NULL;
        }
        if (!(n = new_node(P, TN_MACRO)) || !(n->name = dup_name(P, cur(P)))) return NULL;
        adv(P);
        if (expect_op(P, "(")) return NULL;
        struct nvec v = {0};
        while (!is_op(cur(P), ")")) {
            if (v.n && expect_op(P, ",")) return NULL;
            if (cur(P)->type != K_NAME) {
                perr(P, "expected parameter name%s", "");
                return NULL;
            }
            struct tmpl_node *p = new_node(P, TE_NAME);
            if (!p || !(p->name = dup_name(P, cur(P)))) return NULL;
            adv(P);
            if (is_op(cur(P), "=")) {
                adv(P);
                if (!(p->a = parse_expr(P))) return NULL;
            }
            if (nvec_push(P, &v, p, NULL)) return NULL;
        }
        adv(P);
        n->args = v.v;
        n->nargs = v.n;
        int saved_ld = P->loop_depth;
        P->loop_depth = 0;
        int br = expect_block_end(P) || parse_body(P, END_MACRO, &n->body);
        P->loop_depth = saved_ld;
        if (br) return NULL;
        adv(P);
        if (expect_block_end(P)) return NULL;
        return n;
    }
    if (is_name(t, "break") || is_name(t, "continue")) {
        if (P->loop_depth == 0) {
            perr(P, "'%s' outside loop", is_name(t, "break") ? "break" : "continue");
            return NULL;
        }
        n = new_node(P, is_name(t, "break") ? TN_BREAK : TN_CONTINUE);
        if (!n) return NULL;
        adv(P);
        if (expect_block_end(P)) return NULL;
        return n;
    }
    if (is_name(t, "generation")) {
        adv(P);
        if (!(n = new_node(P, TN_BLOCK))) return NULL;
        if (expect_block_end(P) || parse_body(P, END_GEN, &n->body)) return NULL;
        adv(P);
        if (expect_block_end(P)) return NULL;
        return n;
    }
    char nm[64];
    size_t l = t->n < sizeof nm - 1 ? t->n : sizeof nm - 1;
    memcpy(nm, t->p, l);
    nm[l] = 0;
    perr(P, "unknown or unsupported statement '%s'", nm);
    return NULL;
}

static int parse_body(struct parser *P, const char *const *ends, struct tmpl_node **out) {
    struct tmpl_node *head = NULL, **tail = &head;
    if (enter(P)) return -1;
    for (;;) {
        struct tok *t = cur(P);
        struct tmpl_node *n = NULL;
        if (t->type == K_EOF) {
            if (ends) {
                const char *const *last = ends;
                while (last[1]) last++;
                perr(P, "unexpected end of template, expected '{%% %s %%}'", *last);
                return -1;
            }
            break;
        }
        if (t->type == K_DATA) {
            if (!(n = new_node(P, TN_TEXT))) return -1;
            n->lit.t = TV_STR;
            n->lit.u.s.p = t->p;
            n->lit.u.s.n = t->n;
            adv(P);
        } else if (t->type == K_VAR_BEGIN) {
            adv(P);
            if (!(n = new_node(P, TN_OUT)) || !(n->a = parse_expr(P))) return -1;
            if (cur(P)->type != K_VAR_END) return perr(P, "expected end of print statement '}}'%s", "");
            adv(P);
        } else if (t->type == K_BLOCK_BEGIN) {
            struct tok *nm = peek(P, 1);
            if (ends && nm->type == K_NAME) {
                for (const char *const *e = ends; *e; e++)
                    if (is_name(nm, *e)) {
                        adv(P); /* leave cursor on the end name */
                        *out = head;
                        P->depth--;
                        return 0;
                    }
            }
            if (nm->type == K_NAME &&
                (is_name(nm, "endif") || is_name(nm, "endfor") || is_name(nm, "else") ||
                 is_name(nm, "elif") || is_name(nm, "endset") || is_name(nm, "endmacro") ||
                 is_name(nm, "endgeneration"))) {
                adv(P);
                return perr(P, "unexpected '%s' tag", ends ? "end" : "closing");
            }
            adv(P);
            if (!(n = parse_stmt(P))) return -1;
        } else {
            return perr(P, "unexpected token%s", "");
        }
        *tail = n;
        tail = &n->next;
    }
    *out = head;
    P->depth--;
    return 0;
}

enum smelt_status smelt_tmpli_parse(struct smelt_tmpl *t, const char *src, size_t len) {
    if (len > TMPL_MAX_SRC)
        return smelt_err(SMELT_ERR_FORMAT, "template: %zu bytes exceeds the limit of %zu", len,
                         TMPL_MAX_SRC);
    /* validate UTF-8 (and refuse NUL, which jinja would keep but C strings cannot) */
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t l = smelt_tmpli_utf8_dec(src + i, len - i, &cp);
        if (!l) return smelt_err(SMELT_ERR_FORMAT, "template: invalid UTF-8 at byte %zu", i);
        i += l;
    }
    /* normalise newlines; drop one trailing newline */
    char *s = smelt_tmpli_alloc(&t->ar, len + 1);
    if (!s) return SMELT_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[n++] = src[i];
        }
    }
    if (n > 0 && s[n - 1] == '\n') n--;
    s[n] = 0;

    struct lexer L = {.s = s, .n = n, .line = 1, .ar = &t->ar};
    enum smelt_status st = SMELT_OK;
    if (lex_all(&L)) {
        st = SMELT_ERR_FORMAT;
        if (strstr(smelt_last_error(), "memory")) st = SMELT_ERR_NOMEM;
        goto done;
    }
    struct parser P = {.L = &L, .t = L.toks, .n = L.ntok, .ar = &t->ar};
    if (parse_body(&P, NULL, &t->root)) {
        st = strstr(smelt_last_error(), "memory") ? SMELT_ERR_NOMEM : SMELT_ERR_FORMAT;
        goto done;
    }
done:
    free(L.toks);
    return st;
}
