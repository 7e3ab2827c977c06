import sys, json, jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
def raise_exception(m): raise jinja2.exceptions.TemplateError(m)
def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
env.filters["tojson"]=tojson; env.globals["raise_exception"]=raise_exception
for t in sys.argv[1:]:
    try: print(repr(env.from_string(t).render(xs=[1,2,3], d={'a':1,'b':[1,2]}, s="héllo wörld")))
    except Exception as e: print("ERR", type(e).__name__, e)
