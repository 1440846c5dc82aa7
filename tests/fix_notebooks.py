"""Repair what the repository checks in tests/test_repo.py flag and nbdev_clean does not fix:
- give every notebook the python3 kernelspec papermill needs (jupytext conversions drop it);
- split code cells that mix imports with other code (nbdev's docs processors execute every cell holding an import),
  in component notebooks (experiment notebooks, 30 and up, are `skip_showdoc`).
Run `python tests/fix_notebooks.py [notebooks...]` (default: all of nbs/), then `nbdev_clean`.
"""
import ast, json, re, sys, uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KS = {"display_name": "python3", "language": "python", "name": "python3"}  # as nbdev_clean writes it
SKIP = ('#|export', '#| export', '#|exporti', '#|exports', '#|eval: false', '#|hide')

def mixes_imports(src:str)->bool:
    "Does this code cell hold imports (at any depth) and other statements (and is it not exported or hidden)?"
    lines = src.splitlines()
    if any(l.strip().startswith(SKIP) for l in lines): return False
    try: t = ast.parse('\n'.join(l for l in lines if not l.startswith(('%', '!'))))
    except SyntaxError: return False
    # nbdev's processors look for imports anywhere in a cell (inside `if`/`with` blocks too)
    nested = any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(t))
    return nested and not all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in t.body)

def split_imports(src:str)->tuple[str, str]:
    "The import lines of `src` (at any depth, dedented), and the rest."
    t, lines = ast.parse(src), src.splitlines(keepends=True)
    rows = {i for n in ast.walk(t) if isinstance(n, (ast.Import, ast.ImportFrom)) for i in range(n.lineno - 1, n.end_lineno)}
    return (''.join(l.lstrip() for i, l in enumerate(lines) if i in rows).rstrip('\n'),
            ''.join(l for i, l in enumerate(lines) if i not in rows).strip('\n'))

def fix(p:Path)->list[str]:
    nb, done = json.loads(p.read_text()), []
    if nb['metadata'].get('kernelspec') != KS or 'jupytext' in nb['metadata']:
        nb['metadata'].pop('jupytext', None); nb['metadata']['kernelspec'] = KS; done.append('kernelspec')
    cells = []
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'code' and not re.match(r'^[3-9]\d_', p.name) and mixes_imports(src):
            a, b = split_imports(src)
            cells += [dict(c, source=a.splitlines(keepends=True), outputs=[], execution_count=None, id=uuid.uuid4().hex[:8]),
                      dict(c, source=b.splitlines(keepends=True))]
            done.append('split imports')
        else: cells.append(c)
    if done:
        nb['cells'] = cells
        p.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    return done

if __name__ == '__main__':
    paths = [Path(a) for a in sys.argv[1:]] or sorted((ROOT/'nbs').glob('*.ipynb'))
    for p in paths:
        if (d := fix(p)): print(p, ', '.join(d))
