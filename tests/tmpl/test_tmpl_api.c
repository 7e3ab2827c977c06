/* C-level checks of the chat-template API: error statuses and messages
 * (line:column, raise_exception text), NULL handling, output ownership. The
 * rendering semantics are checked against jinja2 by test_oracle.py. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "smelt/tok.h"

static enum smelt_status render(const char *src, const struct smelt_chat_msg *m, size_t n,
                                bool agp, char **out) {
    struct smelt_tmpl *t = NULL;
    enum smelt_status st = smelt_tmpl_parse(src, strlen(src), &t);
    if (st != SMELT_OK) return st;
    size_t len = 0;
    st = smelt_tmpl_render(t, m, n, agp, "<s>", "</s>", out, &len);
    if (st == SMELT_OK) CHECK(strlen(*out) == len);
    smelt_tmpl_free(t);
    return st;
}

int main(void) {
    struct smelt_tmpl *t = (struct smelt_tmpl *)1;
    char *out = (char *)1;

    /* syntax error: status, NULL out-param, line:column in the message */
    CHECK(smelt_tmpl_parse("ab\ncd {{ 1 + }}", 15, &t) == SMELT_ERR_FORMAT);
    CHECK(t == NULL);
    CHECKF(strstr(smelt_last_error(), "template:2:") != NULL, "%s", smelt_last_error());
    CHECK(smelt_tmpl_parse("{% if x %}", 10, &t) == SMELT_ERR_FORMAT);
    CHECKF(strstr(smelt_last_error(), "endif") != NULL, "%s", smelt_last_error());
    CHECK(smelt_tmpl_parse("{{ 'a\xff' }}", 9, &t) == SMELT_ERR_FORMAT);
    CHECK(smelt_tmpl_parse(NULL, 0, NULL) == SMELT_ERR_INVALID_ARG);
    smelt_tmpl_free(NULL);

    /* a simple ChatML render through the struct API */
    struct smelt_chat_msg m[] = {{"system", "S"}, {"user", "Hi \"x\""}, {"assistant", NULL}};
    const char *chatml = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
                         "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    CHECK(render(chatml, m, 2, true, &out) == SMELT_OK);
    CHECKF(strcmp(out, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi \"x\"<|im_end|>\n"
                       "<|im_start|>assistant\n") == 0, "%s", out);
    free(out);
    /* NULL content renders as None; bos/eos are visible */
    CHECK(render("{{ messages[2].content }}{{ messages[2].content is none }}{{ bos_token }}{{ eos_token }}",
                 m, 3, false, &out) == SMELT_OK);
    CHECKF(strcmp(out, "NoneTrue<s></s>") == 0, "%s", out);
    free(out);
    /* empty template, empty conversation */
    CHECK(render("", NULL, 0, false, &out) == SMELT_OK);
    CHECK(out && out[0] == 0);
    free(out);

    /* raise_exception: FORMAT status and the template's own message */
    out = (char *)1;
    CHECK(render("{{ raise_exception('Roles must alternate') }}", m, 1, false, &out) == SMELT_ERR_FORMAT);
    CHECK(out == NULL);
    CHECKF(strstr(smelt_last_error(), "Roles must alternate") != NULL, "%s", smelt_last_error());
    /* runtime type error names the line */
    CHECK(render("\n\n{{ 1 + 'a' }}", m, 1, false, &out) == SMELT_ERR_FORMAT);
    CHECKF(strstr(smelt_last_error(), "template:3:") != NULL, "%s", smelt_last_error());
    /* caps: output size, step budget */
    CHECK(render("{% for i in range(100000) %}{% for j in range(100000) %}{{ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' }}{% endfor %}{% endfor %}",
                 m, 1, false, &out) == SMELT_ERR_RANGE);
    CHECK(render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", m, 1,
                 false, &out) != SMELT_OK);
    /* invalid UTF-8 in a message */
    struct smelt_chat_msg bad[] = {{"user", "a\xc3"}};
    CHECK(render("{{ messages[0].content }}", bad, 1, false, &out) == SMELT_ERR_FORMAT);
    /* missing role is a caller error */
    struct smelt_chat_msg norole[] = {{NULL, "x"}};
    CHECK(render("x", norole, 1, false, &out) == SMELT_ERR_INVALID_ARG);

    /* JSON context */
    const char *jt = "{{ tools[0].name }}|{{ n + 1 }}|{{ f }}";
    CHECK(smelt_tmpl_parse(jt, strlen(jt), &t) == SMELT_OK);
    const char *js = "{\"tools\": [{\"name\": \"w\"}], \"n\": 41, \"f\": 0.5}";
    size_t len = 0;
    CHECK(smelt_tmpl_render_json(t, js, strlen(js), &out, &len) == SMELT_OK);
    CHECKF(strcmp(out, "w|42|0.5") == 0, "%s", out);
    free(out);
    CHECK(smelt_tmpl_render_json(t, "[1]", 3, &out, &len) == SMELT_ERR_FORMAT);
    CHECK(smelt_tmpl_render_json(t, "{", 1, &out, &len) == SMELT_ERR_FORMAT);
    /* the same template renders again (immutable after parse) */
    CHECK(smelt_tmpl_render_json(t, js, strlen(js), &out, &len) == SMELT_OK);
    free(out);
    smelt_tmpl_free(t);
    return CHECK_EXIT();
}
