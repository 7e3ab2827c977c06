#!/usr/bin/env python3
"""Chat-template oracle: smelt's C engine (tmpl_render) against Python jinja2.

jinja2 is configured as Hugging Face transformers' apply_chat_template does:
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the
loopcontrols extension, a {% generation %} block tag, raise_exception, and
`tojson` = json.dumps(x, ensure_ascii=False, ...) (no HTML escaping, keys
unsorted). For every case both engines must render the same bytes, or both
must fail. Any mismatch, crash or hang fails the run (exit 1) with a diff.

  test_oracle.py TMPL_RENDER            templates x conversations + engine unit cases
  test_oracle.py --corpus TMPL_RENDER   tests/tmpl/corpus/* (tricky / malformed inputs)
"""
import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import jinja2
    from jinja2 import nodes
    from jinja2.ext import Extension
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError as e:  # the oracle is required: never skip
    print(f"FAIL: jinja2 is not importable ({e}); install it in {sys.executable}")
    sys.exit(1)

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 20


class GenerationTag(Extension):
    """transformers' {% generation %} ... {% endgeneration %} (renders its body)."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, "jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


ENV = make_env()


def render_jinja(src, ctx):
    try:
        return ("ok", ENV.from_string(src).render(**ctx))
    except Exception as e:  # any jinja failure counts as "error"
        return ("err", f"{type(e).__name__}: {e}")


TMP = None  # created by main(), removed at exit


def render_c(exe, src, ctx, api=False):
    tp = os.path.join(TMP, "t.jinja")
    cp = os.path.join(TMP, "c.json")
    with open(tp, "wb") as f:
        f.write(src.encode("utf-8"))
    with open(cp, "w", encoding="utf-8") as f:
        json.dump(ctx, f, ensure_ascii=False)
    cmd = [exe] + (["--api"] if api else []) + [tp, cp]
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return ("crash", f"timeout after {TIMEOUT}s")
    if p.returncode == 0:
        return ("ok", p.stdout.decode("utf-8"))
    if p.returncode == 2:
        return ("err", p.stderr.decode("utf-8", "replace").strip())
    return ("crash", f"exit status {p.returncode}: {p.stderr.decode('utf-8', 'replace')}")


failures = []
n_cases = 0


def compare(name, exe, src, ctx, api=False, expect=None):
    """expect: None (match jinja2), or 'err' (both must fail)."""
    global n_cases
    n_cases += 1
    j = render_jinja(src, ctx)
    c = render_c(exe, src, ctx, api)
    ok = c[0] != "crash" and j[0] == c[0] and (j[0] == "err" or j[1] == c[1])
    if ok and expect == "err" and j[0] != "err":
        ok = False
    if ok:
        return
    lines = [f"MISMATCH {name}{' (api)' if api else ''}",
             f"  template: {src!r}"[:600], f"  context: {json.dumps(ctx, ensure_ascii=False)}"[:600],
             f"  jinja2: {j[0]}" + (f" {j[1]}" if j[0] == "err" else ""),
             f"  smelt:  {c[0]}" + (f" {c[1]}" if c[0] != "ok" else "")]
    if j[0] == "ok" and c[0] == "ok":
        diff = difflib.unified_diff(j[1].splitlines(True), c[1].splitlines(True),
                                    "jinja2", "smelt", lineterm="")
        lines += ["  " + d.rstrip("\n") for d in diff]
        lines.append(f"  jinja2 repr: {j[1]!r}"[:2000])
        lines.append(f"  smelt  repr: {c[1]!r}"[:2000])
    failures.append("\n".join(lines))


# ---- conversations -----------------------------------------------------------
def msg(role, content):
    return {"role": role, "content": content}


CONVERSATIONS = {
    "system_user": [msg("system", "You are a helpful assistant."), msg("user", "Hello!")],
    "multi_turn": [msg("system", "Be brief."), msg("user", "Hi"), msg("assistant", "Hello, how can I help?"),
                   msg("user", "What is 2+2?"), msg("assistant", "4"), msg("user", "Thanks")],
    "no_system": [msg("user", "Who are you?"), msg("assistant", "   I am an assistant   "),
                  msg("user", "Another question")],
    "single_user": [msg("user", "Tell me a joke.")],
    "unicode": [msg("system", "Réponds en français. 日本語も OK 🎉"),
                msg("user", "héllo wörld — ß ǅ Ω \u2028 line sep\u00a0nbsp"),
                msg("assistant", "Ça va? 😀"), msg("user", "Ελληνικά και עברית")],
    "special_chars": [msg("user", "quotes ' \" and braces {{ x }} {% if %} {# c #} \\ backslash\ttab"),
                      msg("assistant", "<|im_end|> <end_of_turn> </s> [INST] \n\n  trailing  \n"),
                      msg("user", "\r\nwindows\r\nlines\rcr\x01ctl")],
    "empty_content": [msg("system", ""), msg("user", ""), msg("assistant", ""), msg("user", " ")],
    "whitespace": [msg("user", "\n\n  leading and trailing  \n\n"), msg("assistant", "\t\t"),
                   msg("user", "x")],
    "assistant_last": [msg("user", "Ping"), msg("assistant", "Pong")],
    "bad_alternation": [msg("user", "one"), msg("user", "two")],
    "system_only": [msg("system", "Only a system prompt.")],
}

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather <now> & 'then'",
          "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "Città"}},
                         "required": ["city"]}}}]
TOOL_CONVS = {
    "tool_call": [msg("system", "Use tools."), msg("user", "Weather in Paris?"),
                  {"role": "assistant", "content": "",
                   "tool_calls": [{"id": "abc123def", "type": "function",
                                   "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
                  {"role": "tool", "tool_call_id": "abc123def", "content": "22 °C, sunny"},
                  msg("assistant", "It is 22 °C and sunny in Paris.")],
}


def template_cases(exe):
    tdir = os.path.join(HERE, "templates")
    names = sorted(f for f in os.listdir(tdir) if f.endswith(".jinja"))
    if not names:
        failures.append("no templates found in " + tdir)
    for fname in names:
        with open(os.path.join(tdir, fname), encoding="utf-8", newline="") as f:
            src = f.read()
        for cname, conv in CONVERSATIONS.items():
            for agp in (True, False):
                for bos, eos in (("<s>", "</s>"), ("<|begin_of_text|>", "<|eot_id|>")):
                    ctx = {"messages": conv, "add_generation_prompt": agp, "bos_token": bos, "eos_token": eos}
                    compare(f"{fname}/{cname}/agp={agp}/bos={bos}", exe, src, ctx)
                compare(f"{fname}/{cname}/agp={agp}", exe, src,
                        {"messages": conv, "add_generation_prompt": agp, "bos_token": "<s>", "eos_token": "</s>"},
                        api=True)
        for cname, conv in TOOL_CONVS.items():
            for with_tools in (False, True):
                ctx = {"messages": conv, "add_generation_prompt": True, "bos_token": "<s>", "eos_token": "</s>"}
                if with_tools:
                    ctx["tools"] = TOOLS
                compare(f"{fname}/{cname}/tools={with_tools}", exe, src, ctx)


# ---- engine unit cases (template, context) ----------------------------------------
X = {"xs": [1, 2, 3], "d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "héllo wörld",
     "e": "", "n": None, "t": True, "f": 2.5, "neg": -7, "words": ["b", "A", "c", "a"],
     "people": [{"name": "Ann", "age": 30, "role": "user"}, {"name": "bob", "age": 25, "role": "assistant"},
                {"name": "Cy", "age": 35, "role": "user", "extra": None}]}

UNIT = [
    # output / literals / str() semantics
    "{{ 1 }}{{ -2 }}{{ 1.5 }}{{ 1.0 }}{{ 1e3 }}{{ 1e20 }}{{ 1e16 }}{{ 1e15 }}{{ 0.1 + 0.2 }}{{ 1e-5 }}{{ 0.0001 }}{{ 123456789.123 }}",
    "{{ true }}{{ false }}{{ none }}{{ True }}{{ None }}{{ n }}{{ t }}",
    "{{ [1, 'a', none, true, 2.0] }}{{ (1,) }}{{ (1, 2) }}{{ () }}{{ {'a': 1, 'b': 'x'} }}{{ {} }}",
    "{{ ['it\\'s', \"q\\\"d\", 'both \\' \"', 'nl\\n', 'tab\\t', 'bs\\\\', 'é', '\\x01'] }}",
    "{{ 'a' 'b' \"c\" }}|{{ '\\u00e9\\U0001F600\\x41\\101\\n\\t\\\\' }}|{{ 'unknown \\d escape' }}",
    "{{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 2.5e-3 }}",
    # arithmetic
    "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 // -2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 7 / 2 }} {{ 6 / 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}",
    "{{ 1 + 2 * 3 - 4 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 2 * -1 }} {{ 1 + 1.5 }} {{ true + 1 }}",
    "{{ 'ab' * 3 }}{{ 3 * 'x' }}{{ [1] * 3 }}{{ 'a' + 'b' }}{{ [1] + [2, 3] }}{{ 'x' ~ 1 ~ none ~ true ~ 2.0 ~ u }}",
    "{{ 1 / 0 }}", "{{ 1 + 'a' }}", "{{ 'a' - 'b' }}", "{{ -'a' }}",
    # comparisons and logic
    "{{ 1 == 1.0 }}{{ true == 1 }}{{ 'a' < 'b' }}{{ [1, 2] < [1, 3] }}{{ 1 != 2 }}{{ 2 >= 2 }}{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}",
    "{{ 1 < 'a' }}",
    "{{ 'a' in 'cat' }}{{ 'z' not in 'cat' }}{{ 2 in xs }}{{ 'a' in d }}{{ 'q' in d }}{{ '' in 'x' }}{{ 1 in u }}",
    "{{ 1 in 5 }}",
    "{{ 0 or 'x' }}|{{ 1 and 'y' }}|{{ '' and 1 }}|{{ none or false }}|{{ not 0 }}|{{ not xs }}|{{ u or 'd' }}",
    "{{ 'yes' if t else 'no' }}|{{ 'yes' if n else 'no' }}|{{ 'a' if false }}|{{ 1 if 0 else 2 if 0 else 3 }}",
    # undefined
    "[{{ u }}]{{ u is defined }}{{ u is undefined }}{{ d.zz is defined }}{{ u|length }}{{ u|default('dflt') }}{{ ''|default('x') }}{{ ''|default('x', true) }}{{ n|default('x') }}",
    "{{ u.attr }}", "{{ u['k'] }}", "{{ u + 1 }}", "{{ u() }}", "{% for x in u %}{{ x }}{% endfor %}ok",
    "{{ d.zz }}|{{ d['zz'] }}|{{ xs[10] }}|{{ n.attr }}|{{ d.zz.yy is defined }}",
    "{{ d.zz.yy }}",
    "{{ u == u }}{{ u != 1 }}{{ u is none }}{{ u is iterable }}{{ u is sequence }}{{ u|list }}{{ u|trim }}|{{ u|string }}",
    # subscripts, slices, attributes
    "{{ xs[0] }}{{ xs[-1] }}{{ xs[1:] }}{{ xs[:-1] }}{{ xs[::-1] }}{{ xs[::2] }}{{ xs[5:] }}{{ xs[-10:2] }}{{ xs[2:0:-1] }}",
    "{{ s[0] }}{{ s[-1] }}{{ s[1:4] }}{{ s[::-1] }}{{ s[::3] }}{{ s|length }}{{ s[100] }}",
    "{{ d.a }}{{ d['a'] }}{{ d.c.x }}{{ d['c']['x'] }}{{ d.b[1] }}{{ d.b.0 }}{{ xs.1 }}",
    "{{ xs[::0] }}", "{{ xs['a'] }}|{{ d[0] }}",
    # string methods
    "{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '  a '.lstrip() }}|{{ ' a  '.rstrip() }}|{{ '\\n\\t a \\u3000'.strip() }}",
    "{{ 'a,b,,c'.split(',') }}{{ ' a  b \\n c '.split() }}{{ 'a b c'.split(' ', 1) }}{{ 'a b c'.split(none, 1) }}{{ ''.split() }}{{ ''.split(',') }}",
    "{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith('bc') }}{{ 'abc'.startswith(('x', 'a')) }}{{ 'abc'.endswith('abcd') }}",
    "{{ 'hello world'.upper() }}{{ 'HeLLo'.lower() }}{{ 'hello wORLD foo-bar o\\'neil 3rd'.title() }}{{ 'hELLO'.capitalize() }}{{ 'ß é ǅ'.upper() }}",
    "{{ 'aaa'.replace('a', 'b') }}{{ 'aaa'.replace('a', 'b', 2) }}{{ 'abc'.replace('', '-') }}{{ ', '.join(['a', 'b']) }}{{ 'abcb'.find('b') }}{{ 'abcb'.count('b') }}{{ 'héé'.find('é') }}",
    "{{ 'a\\nb\\r\\nc'.splitlines() }}{{ '  '.isspace() }}{{ '12'.isdigit() }}{{ 'ab'.isalpha() }}{{ 'AB'.isupper() }}{{ 'ab'.islower() }}",
    "{{ s.nosuch }}|{{ s.nosuch is defined }}", "{{ s.nosuch() }}", "{{ ''.split('') }}",
    # dict methods
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{{ d.keys()|list }}{{ d.values()|list }}{{ d.get('a') }}{{ d.get('zz') }}{{ d.get('zz', 5) }}",
    "{{ d|items|list }}{% for k, v in d|items %}{{ k }}{% endfor %}{{ u|items|list }}",
    "{{ xs|items|list }}",
    # filters
    "{{ '  x  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ 'aBc'|upper }}|{{ 'aBc'|lower }}|{{ 'hello wORLD-foo(bar [x <y'|title }}|{{ 'hELLO wORLD'|capitalize }}",
    "{{ xs|length }}{{ d|length }}{{ s|length }}{{ xs|count }}{{ xs|first }}{{ xs|last }}{{ s|first }}{{ s|last }}{{ []|first }}|{{ d|first }}",
    "{{ 5|length }}",
    "{{ xs|join }}|{{ xs|join(', ') }}|{{ people|join(', ', attribute='name') }}|{{ [1, none, 'a']|join('-') }}",
    "{{ 'aaa'|replace('a', 'b') }}{{ 'aaa'|replace('a', 'b', 1) }}{{ 123|replace('2', 'x') }}",
    "{{ 1|string }}{{ none|string }}{{ [1]|string }}{{ 1.0|string }}{{ '3'|int + 1 }}{{ '3.7'|int }}{{ ' 12 '|int }}{{ 'x'|int }}{{ 'x'|int(7) }}{{ '0x1A'|int(0, 16) }}{{ '0b11'|int(0, 0) }}{{ 3.9|int }}{{ true|int }}{{ none|int }}{{ '1_000'|int }}",
    "{{ '2.5'|float }}{{ 'x'|float }}{{ 3|float }}{{ ' 1e3 '|float }}{{ 'nan'|float }}",
    "{{ 'ab'|list }}{{ d|list }}{{ xs|list }}{{ (1, 2)|list }}",
    "{{ d|tojson }}|{{ 'a\"b\\\\c\\n<&>\\'é\\u2028\\x01\\x7f'|tojson }}|{{ [1, 2.0, none, true, 'x']|tojson }}|{{ {}|tojson }}|{{ []|tojson }}",
    "{{ d|tojson(indent=2) }}|{{ xs|tojson(indent=4) }}|{{ {'b': 1, 'a': {'c': []}}|tojson(indent=2, sort_keys=true) }}|{{ d|tojson(separators=(',', ':')) }}|{{ 'é'|tojson(ensure_ascii=true) }}|{{ {1: 'a', true: 2}|tojson }}",
    "{{ u|tojson }}",
    "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}|{{ 'a\\nb'|indent('> ') }}|{{ ''|indent(first=true) }}",
    "{{ [1, 2, 3, 4]|select('odd')|list }}{{ [1, 2, 3, 4]|reject('odd')|list }}{{ [0, 1, '', 'a']|select|list }}{{ people|selectattr('role', 'equalto', 'user')|map(attribute='name')|list }}{{ people|rejectattr('role', 'equalto', 'user')|list|length }}{{ people|selectattr('extra', 'defined')|list|length }}{{ people|selectattr('extra', 'none')|map(attribute='name')|join }}",
    "{{ people|map(attribute='age')|sum }}{{ xs|map('string')|join('+') }}{{ people|map(attribute='zz', default='?')|list }}{{ xs|sum(start=10) }}{{ ['a', 'B']|map('upper')|list }}",
    "{{ xs|reverse|list }}{{ 'abc'|reverse }}{{ words|sort }}{{ words|sort(reverse=true) }}{{ words|sort(case_sensitive=true) }}{{ people|sort(attribute='age')|map(attribute='name')|list }}{{ words|unique|list }}{{ words|min }}{{ words|max }}{{ [3, 1, 2]|max }}",
    "{{ -3|abs }}{{ (-3)|abs }}{{ -2.5|abs }}{{ 2.5|round }}{{ 3.5|round }}{{ 2.675|round(2) }}{{ 3.14159|round(2) }}{{ 2.1|round(0, 'ceil') }}{{ 2.9|round(method='floor') }}{{ 7|round }}",
    "{{ '<a href=\"x\">&\\'</a>'|e }}{{ 'x'|safe }}{{ 'one two, three'|wordcount }}{{ 'ab'|center(6) }}|",
    "{{ xs|frobnicate }}", "{{ 1 is frobnicated }}",
    # tests
    "{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}{{ none is none }}{{ 1 is number }}{{ 1.5 is float }}{{ 1 is integer }}{{ true is boolean }}{{ 'x' is string }}{{ d is mapping }}{{ xs is iterable }}{{ 5 is iterable }}{{ xs is sequence }}{{ 'a' is lower }}{{ 'A' is upper }}",
    "{{ 1 is eq 1 }}{{ 1 is equalto 2 }}{{ 2 is gt 1 }}{{ 2 is ge 2 }}{{ 1 is lt 2 }}{{ 1 is le 0 }}{{ 1 is ne 1 }}{{ 1 is in xs }}{{ true is true }}{{ 0 is false }}{{ range is callable }}{{ xs is not none }}{{ not 1 is none }}{{ 1 is sameas 1 }}",
    "{{ 'x' is odd }}",
    # control flow + whitespace control
    "{% if 1 %}a{% elif 2 %}b{% else %}c{% endif %}{% if 0 %}a{% elif 2 %}b{% else %}c{% endif %}{% if 0 %}a{% elif 0 %}b{% else %}c{% endif %}{% if 0 %}x{% endif %}",
    "{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem }}{{ loop.nextitem }}{{ loop.cycle('a', 'b') }}|{% endfor %}",
    "{% for x in [] %}x{% else %}empty{% endfor %}{% for x in xs if x > 1 %}{{ x }}{{ loop.index }}{{ loop.length }}{% endfor %}{% for x in xs if x > 5 %}{% else %}none{% endfor %}",
    "{% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{{ x }}{% endfor %}{% for x in xs %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "{% for a, b in [[1, 2], [3, 4]] %}{{ a }}{{ b }}{% endfor %}{% for k in d %}{{ k }}{% endfor %}{% for c in 'hé' %}[{{ c }}]{% endfor %}",
    "{% for x in xs %}{% for y in xs %}{{ loop.index }}{% endfor %}{{ loop.index }};{% endfor %}",
    "{% for x in none %}{% endfor %}", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", "{% for x in 5 %}{% endfor %}",
    "{% set x = 0 %}{% for i in xs %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}",
    "{% set ns = namespace(total=0, found=false) %}{% for i in xs %}{% set ns.total = ns.total + i %}{% if i == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.total }}{{ ns.found }}{{ ns.zz is defined }}",
    "{% set ns = namespace() %}{% set ns.a = 1 %}{{ ns.a }}{{ ns['a'] }}",
    "{% set x = 1 %}{% set x.y = 2 %}",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c, d2 = [3, 4] %}{{ c }}{{ d2 }}{% set t = 1, 2 %}{{ t }}",
    "{% set blk %}inner {{ 1 + 1 }}{% endset %}[{{ blk }}]{{ blk|length }}",
    "{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(name='C', punct='.') }} {{ greet() }}|",
    "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}",
    "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }}",
    "{% macro r(n) %}{{ r(n) }}{% endmacro %}{{ r(1) }}",
    "{{ range(3)|list }}{{ range(1, 10, 3)|list }}{{ range(5, 0, -2)|list }}{{ range(0)|list }}{% for i in range(2) %}{{ i }}{% endfor %}",
    "{{ range(200000)|length }}",
    "{{ dict(a=1, b=2) }}{{ namespace(a=1).a }}",
    "{{ raise_exception('boom: ' ~ 42) }}",
    "before{% if true %}{{ raise_exception('inner') }}{% endif %}",
    "{# a comment #}x{#- trimmed -#}   y {#+ keep +#}\n z",
    "{% raw %}{{ not evaluated }} {% if %}{% endraw %}|{%- raw -%}  spaced  {%- endraw -%}|",
    "{% generation %}gen {{ 1 }}{% endgeneration %}",
    # whitespace control: trim_blocks / lstrip_blocks / - / +
    "a\n  {% if true %}\n    b\n  {% endif %}\nc\n",
    "a\n  {%+ if true %}\n    b\n  {% endif +%}\nc",
    "a  {{- ' b ' -}}  c\n{{ 'd' }}\n  {{ 'e' }}\n",
    "line1\n    {#- comment #}\n  {# comment2 #}\nline2",
    "  {% for x in xs %}\n  {{ x }}\n  {% endfor %}\n",
    "{%- for x in xs -%}\n  {{ x }}\n{%- endfor -%}\n\n",
    "x\t\t{% if true %}y{% endif %}\t\n\t{% if true -%} \n z {%- endif %}",
    "\u3000 {% if true %}u{% endif %}\n\u00a0{% if true %}v{% endif %}",
    "a\r\nb\r\n{% if true %}\r\nc{% endif %}\r\n",
    "trailing newline kept?\n",
    "{{ 'x' }}\n{% if true %}\ny\n{% endif %}\n\n",
    "{% if true %}  \n  x{% endif %}",
    "{{ {'a': {'b': 1}} }}{{ {'a': {'b': 1}}['a']['b'] }}",
    "{{ 'unterminated }}", "{% if %}", "{% if true %}no end", "{% endif %}", "{{ 1 + }}", "{% for x in %}{% endfor %}",
    "{{ xs | }}", "{% frob %}", "{{ 1 }", "{% set %}", "{{ ) }}", "{#", "{{ (((1 }}",
    "{% for x in xs %}{% else %}{% else %}{% endfor %}", "{{ a.1.b }}", "{{ [1, 2,] }}{{ (1, 2,) }}{{ {'a': 1,} }}",
    "{% if 1 %}{% elif %}{% endif %}",
    "{{ 'a' if 1 else 'b' if 2 }}", "{{ x if }}",
    "{{ 'abc'[1:] }}{{ 'abc'[:1] }}{{ xs[1:2:] }}{{ xs[:] }}",
    "{{ messages is defined }}{{ xs|selectattr('real') is defined }}",
    "{% for m in people %}{{ m.name }}{% if not loop.last %}, {% endif %}{% endfor %}",
]


def unit_cases(exe):
    for i, src in enumerate(UNIT):
        compare(f"unit[{i}]", exe, src, X)


# ---- resource limits: must fail fast, not hang (jinja2 itself would run for ages) ----
LIMITS = [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}{% endfor %}",
    "{{ 'x' * 1000000000000 }}",
    "{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}",
    "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
    "{% if 1 %}" * 3000 + "{% endif %}" * 3000,
    "{{ 2 ** 100 }}",
]


def limit_cases(exe):
    import time
    for i, src in enumerate(LIMITS):
        global n_cases
        n_cases += 1
        t0 = time.time()
        c = render_c(exe, src, X)
        dt = time.time() - t0
        if c[0] != "err":
            failures.append(f"LIMIT[{i}] expected an error, got {c[0]} {c[1][:200]!r} ({dt:.1f}s)")
        elif dt > 15:
            failures.append(f"LIMIT[{i}] took {dt:.1f}s")


def corpus_cases(exe):
    global n_cases
    cdir = os.path.join(HERE, "corpus")
    files = sorted(os.listdir(cdir))
    if not files:
        failures.append("empty corpus " + cdir)
    for fname in files:
        with open(os.path.join(cdir, fname), "rb") as f:
            raw = f.read()
        try:
            src = raw.decode("utf-8")
        except UnicodeDecodeError:
            # invalid UTF-8 never reaches jinja2 (transformers decodes first): must be an error
            tp = os.path.join(cdir, fname)
            cp = os.path.join(TMP, "c.json")
            with open(cp, "w") as f:
                json.dump(X, f)
            p = subprocess.run([exe, tp, cp], capture_output=True, timeout=TIMEOUT)
            n_cases += 1
            if p.returncode != 2:
                failures.append(f"CORPUS {fname}: invalid UTF-8 must be rejected, exit {p.returncode}")
            continue
        ctx = dict(X)
        ctx["messages"] = CONVERSATIONS["multi_turn"]
        ctx["add_generation_prompt"] = True
        ctx["bos_token"] = "<s>"
        if fname.startswith("limit_"):  # smelt refuses on purpose: must fail cleanly
            n_cases += 1
            c = render_c(exe, src, ctx)
            if c[0] != "err":
                failures.append(f"CORPUS {fname}: expected a clean error, got {c[0]} {c[1][:200]!r}")
            continue
        compare(f"corpus/{fname}", exe, src, ctx)


def main():
    args = sys.argv[1:]
    corpus = "--corpus" in args
    args = [a for a in args if a != "--corpus"]
    if len(args) != 1:
        print(__doc__)
        return 1
    exe = args[0]
    global TMP
    TMP = tempfile.mkdtemp(prefix="smelt-tmpl-")
    if corpus:
        corpus_cases(exe)
    else:
        template_cases(exe)
        unit_cases(exe)
        limit_cases(exe)
    for f in failures:
        print(f)
        print()
    print(f"{n_cases} cases, {len(failures)} failures (jinja2 {jinja2.__version__})")
    shutil.rmtree(TMP, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
