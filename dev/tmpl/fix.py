import json
s=json.load(open('dev/tmpl/gemma3.json'))
BS='\\'
s=s.replace("'\n\n'", "'"+BS+"n"+BS+"n'").replace("'\n'","'"+BS+"n'").replace("model\n'","model"+BS+"n'").replace("turn>\n'","turn>"+BS+"n'")
open('tests/tmpl/templates/gemma3.jinja','w').write(s)
