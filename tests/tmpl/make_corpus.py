#!/usr/bin/env python3
"""Regenerates tests/tmpl/corpus/: tricky and malformed templates replayed by
the ctest `tmpl_corpus` (must never crash; must agree with jinja2, except
limit_* files, where smelt deliberately refuses what Python accepts -- big
integers, lone surrogates, named escapes -- and must fail cleanly). Cases found
by fuzzing are added here too."""
import os

D = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
CASES = {
    "empty.jinja": "",
    "only_newline.jinja": "\n",
    "lone_open_brace.jinja": "{",
    "lone_var_open.jinja": "{{",
    "lone_block_open.jinja": "{%",
    "lone_comment_open.jinja": "{#",
    "comment_open_minus.jinja": "x {#-",
    "unterminated_comment.jinja": "a {# b",
    "unterminated_string.jinja": "{{ 'abc }}",
    "unterminated_var.jinja": "{{ 1 + 2",
    "unterminated_block.jinja": "{% if true",
    "unclosed_if.jinja": "{% if true %}x",
    "unclosed_for.jinja": "{% for m in messages %}{{ m.role }}",
    "stray_endfor.jinja": "{% endfor %}",
    "stray_else.jinja": "{% else %}",
    "bad_close_bracket.jinja": "{{ ] }}",
    "unbalanced_paren.jinja": "{{ (1 }}",
    "brace_in_string.jinja": "{{ '}}' }}{% set x = '%}' %}{{ x }}",
    "nested_dict_close.jinja": "{{ {'a': {'b': {'c': 1}}} }}",
    "minus_edges.jinja": "{{- -}}",
    "minus_edges2.jinja": "  {%- if true -%}  x  {%- endif -%}  ",
    "plus_signs.jinja": "a\n  {%+ if true +%}\nb\n  {%+ endif +%}\nc",
    "var_plus.jinja": "{{+ 1 +}}",
    "escapes.jinja": "{{ '\\x' }}",
    "escapes2.jinja": "{{ '\\u12' }}{{ '\\U0011FFFF' }}",
    "limit_named_escape.jinja": "{{ '\\N{BULLET}' }}",
    "limit_escape_surrogate.jinja": "{{ '\\ud800' }}",
    "octal_escape.jinja": "{{ '\\777\\0\\1a' }}",
    "limit_big_int.jinja": "{{ 99999999999999999999 }}",
    "big_float.jinja": "{{ 1e999 }}{{ -1e999 }}",
    "limit_int_overflow.jinja": "{{ 9223372036854775807 + 1 }}",
    "neg_min.jinja": "{{ -9223372036854775807 - 1 }}",
    "weird_chars.jinja": "{{ 1 @ 2 }}",
    "dollar.jinja": "{{ $ }}",
    "nul_free_unicode.jinja": "ünïcödé {{ '→' }} 🎉\u2028\u2029\u0085",
    "cr_only.jinja": "a\rb\r{% if true %}\rc{% endif %}\r",
    "crlf.jinja": "a\r\n  {% if true %}\r\n  b\r\n  {% endif %}\r\n",
    "deep_parens.jinja": "{{ " + "(" * 150 + "1" + ")" * 150 + " }}",
    "deep_lists.jinja": "{{ " + "[" * 150 + "]" * 150 + " }}",
    "deep_ifs.jinja": "{% if true %}" * 60 + "x" + "{% endif %}" * 60,
    "many_filters.jinja": "{{ 'x'" + "|upper|lower" * 20 + " }}",
    "chained_compare.jinja": "{{ 1 < 2 < 3 > 2 == 2 != 1 }}",
    "is_not_chain.jinja": "{{ 1 is not none is not none }}",
    "not_in.jinja": "{{ 1 not in [1] }}{{ not 1 in [1] }}",
    "ternary_no_else.jinja": "[{{ 1 if false }}]",
    "filter_on_neg.jinja": "{{ -1|abs }}{{ -(1)|string }}",
    "dot_int.jinja": "{{ messages.0.role }}{{ messages.1['content'] }}",
    "slice_steps.jinja": "{{ messages[::-1]|map(attribute='role')|join(',') }}{{ 'abcdef'[-2::-2] }}",
    "loop_outside.jinja": "{{ loop }}{{ loop.index }}",
    "loop_in_macro.jinja": "{% macro m() %}{{ loop is defined }}{% endmacro %}{% for x in [1] %}{{ m() }}{% endfor %}",
    "break_outside.jinja": "{% break %}",
    "continue_nested.jinja": "{% for a in [1,2] %}{% for b in [1,2] %}{% if b == 1 %}{% continue %}{% endif %}{{ a }}{{ b }}{% endfor %}{% endfor %}",
    "set_loop_toplevel.jinja": "{% set loop = 1 %}{{ loop }}",
    "set_loop_macro.jinja": "{% for x in [1] %}{% macro m() %}{% set loop = 2 %}{% endmacro %}{% endfor %}",
    "break_in_macro.jinja": "{% for x in [1] %}{% macro m() %}{% break %}{% endmacro %}{% endfor %}",
    "for_loop_target.jinja": "{% for a, loop in [[1, 2]] %}{% endfor %}",
    "set_loop.jinja": "{% for x in [1] %}{% set loop = 5 %}{{ loop }}{% endfor %}",
    "macro_shadow.jinja": "{% macro range() %}R{% endmacro %}{{ range() }}",
    "macro_kw_unknown.jinja": "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(b=1) }}",
    "macro_default_ref.jinja": "{% macro m(a, b=a) %}{{ a }}{{ b }}{% endmacro %}{{ m(1) }}",
    "raise_nonstring.jinja": "{{ raise_exception(42) }}",
    "raise_no_arg.jinja": "{{ raise_exception() }}",
    "call_non_callable.jinja": "{{ messages() }}",
    "namespace_iter.jinja": "{% set ns = namespace(a=1) %}{% for x in ns %}{% endfor %}",
    "tojson_ns.jinja": "{{ namespace(a=1)|tojson }}",
    "tojson_nested.jinja": "{{ messages|tojson }}{{ messages|tojson(indent=1) }}",
    "dict_unhashable.jinja": "{{ {[1]: 2} }}",
    "string_mul_neg.jinja": "{{ 'ab' * -3 }}|{{ [1] * 0 }}",
    "keyword_positional.jinja": "{{ range(stop=3) }}",
    "whitespace_everywhere.jinja": "{%\n\tif\ntrue\n%}x{%\nendif\n%}",
    "raw_unclosed.jinja": "{% raw %}abc",
    "raw_minus.jinja": "a   {%- raw -%}   b   {%- endraw -%}   c",
    "generation_unclosed.jinja": "{% generation %}x",
    "lstrip_after_var.jinja": "{{ 1 }}   {% if true %}x{% endif %}",
    "lstrip_start.jinja": "   {% if true %}x{% endif %}",
    "lstrip_tabs_unicode.jinja": "\t \u2003{% if true %}x{% endif %}\n \u2003 {# c #}y",
    "trim_var_then_block.jinja": "{{ 'a' -}}\n   {% if true %}b{% endif %}",
    "bos_eos.jinja": "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}",
    # found by fuzz_tmpl (UBSan)
    "fuzz_replace_count_type.jinja": "{{ 'aaa'.replace('a', 'b', '-') }}{{ 'aaa'|replace('a', 'b', 'x') }}",
    "fuzz_list_of_empty.jinja": "{{ nosuch|items|list }}{{ nosuch|list }}{{ nosuch|map('upper')|list }}{{ []|list }}",
    # differential fuzzing against jinja2 (fuzz corpus replayed through test_oracle)
    "diff_leading_zero_int.jinja": "{{ 0001 }}",
    "diff_zero_floats.jinja": "{{ 00.5 }}{{ 0e1 }}{{ 0_0 }}{{ 007e2 }}{{ 7.5 // -7.5 % 1 }}{{ -1.0 % 1 }}",
    "diff_int_bad_base.jinja": "{{ '12'|int(0, 60) }}{{ '1.5'|int(3, 1) }}{{ 'z'|int(9, 99) }}",
    "diff_map_no_arg.jinja": "{{ messages|map(atteubirt='')|join(',') }}",
    "diff_dotted_filter.jinja": "{{ 1|int.first }}",
    "diff_indent_undefined.jinja": "{{ nosuch|indent }}",
    "diff_test_extra_arg.jinja": "{{ none is none t }}",
    "diff_int_undefined.jinja": "{{ nosuch|int }}",
    "diff_float_undefined.jinja": "{{ nosuch|float }}",
    "bad_utf8.jinja": b"{{ 'a\xff' }}",
    "overlong_utf8.jinja": b"\xc0\xaf",
    "truncated_utf8.jinja": b"abc\xe2\x82",
}


def main():
    os.makedirs(D, exist_ok=True)
    for name, body in CASES.items():
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        with open(os.path.join(D, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(CASES)} files to {D}")


if __name__ == "__main__":
    main()
