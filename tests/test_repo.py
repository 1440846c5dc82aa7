"Repository checks CI makes: notebooks clean, package in sync with notebooks, papermill tags kept, README quick start."
import json, re, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
EXPERIMENTS = [p for p in NBS if re.match(r'^[3-9]\d_', p.name)]

def _bin(name): return str(Path(sys.executable).parent/name)

def _clean_copy(nb:Path, tmp:Path)->Path:
    "A copy of `nb` passed through nbdev_clean with the project's settings."
    dst = tmp/nb.name
    shutil.copy(nb, dst)
    subprocess.run([_bin('nbdev_clean'), '--fname', str(dst)], cwd=ROOT, check=True, capture_output=True)
    return dst

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_notebook_is_clean(nb, tmp_path):
    "`nbdev_clean` leaves every committed notebook unchanged (run it before committing)."
    assert _clean_copy(nb, tmp_path).read_text() == nb.read_text(), f"{nb.name} is not clean: run nbdev_clean"

def test_package_in_sync_with_notebooks(tmp_path):
    "`nbdev_export` of the committed notebooks reproduces the committed package exactly."
    for f in ('settings.ini', 'pyproject.toml'): shutil.copy(ROOT/f, tmp_path/f)
    shutil.copytree(ROOT/'nbs', tmp_path/'nbs', ignore=shutil.ignore_patterns('_proc', '.ipynb_checkpoints'))
    shutil.copytree(ROOT/'eo_moe_nb', tmp_path/'eo_moe_nb', ignore=shutil.ignore_patterns('__pycache__'))
    subprocess.run([_bin('nbdev_export')], cwd=tmp_path, check=True, capture_output=True)
    ours = {p.relative_to(ROOT/'eo_moe_nb'): p.read_text() for p in (ROOT/'eo_moe_nb').rglob('*.py')}
    theirs = {p.relative_to(tmp_path/'eo_moe_nb'): p.read_text() for p in (tmp_path/'eo_moe_nb').rglob('*.py')}
    assert sorted(theirs) == sorted(ours), f"exported files differ: {sorted(set(theirs) ^ set(ours))}"
    stale = [str(k) for k in ours if ours[k] != theirs[k]]
    assert not stale, f"eo_moe_nb/ is out of sync with nbs/ in {stale}: run nbdev_export and commit"

def test_allowed_cell_metadata_keeps_tags():
    "settings.ini lets nbdev_clean keep cell `tags`, without which papermill's `parameters` tag is stripped."
    ini = (ROOT/'settings.ini').read_text()
    assert re.search(r'^allowed_cell_metadata_keys\s*=.*\btags\b', ini, re.M)

@pytest.mark.parametrize('nb', EXPERIMENTS, ids=lambda p: p.name)
def test_parameters_tag_survives_clean(nb, tmp_path):
    "Each experiment notebook has exactly one `parameters` cell, still tagged after nbdev_clean."
    cells = json.loads(_clean_copy(nb, tmp_path).read_text())['cells']
    tagged = [c for c in cells if 'parameters' in c.get('metadata', {}).get('tags', [])]
    assert len(tagged) == 1, f"{nb.name}: {len(tagged)} cells tagged 'parameters' after nbdev_clean"
    src = ''.join(tagged[0]['source'])
    for p in ('scale', 'out_dir'): assert re.search(rf'^{p}\s*[:=]', src, re.M), f"{nb.name}: no `{p}` parameter"
    import papermill
    declared = re.findall(r'^(\w+)\s*[:=]', src, re.M)
    inferred = papermill.inspect_notebook(str(nb))  # what `papermill --help-notebook` documents
    assert sorted(inferred) == sorted(declared), f"{nb.name}: papermill cannot parse {sorted(set(declared) - set(inferred))}"

def quick_start()->list[str]:
    "The command lines of the README's quick-start block."
    readme = (ROOT/'README.md').read_text()
    m = re.search(r'## Quick start.*?```(?:bash|sh)?\n(.*?)```', readme, re.S)
    assert m, 'README.md has no "## Quick start" code block'
    return [l for l in m.group(1).splitlines() if l.strip() and not l.lstrip().startswith('#')]

def test_readme_quick_start_is_two_commands():
    cmds = quick_start()
    assert len(cmds) == 2, cmds
    assert 'papermill nbs/30_mapex_pretrain.ipynb' in cmds[0] and cmds[0].startswith('pip install torch==2.13.0 torchvision==0.28.0')
    assert 'tests/run_all.py' in cmds[1] and cmds[1].startswith('pip install torch==2.13.0 torchvision==0.28.0')
    ci = (ROOT/'.ci'/'run').read_text()
    assert '## Quick start' in ci and 'cmds[1]' in ci, '.ci/run must run the README test command'

@pytest.mark.parametrize('nb', [p for p in NBS if p not in EXPERIMENTS], ids=lambda p: p.name)
def test_no_cells_mixing_imports_and_code(nb):
    "nbdev's docs processors execute every cell holding an import; one that also runs code breaks `nbdev_docs`."
    cells = json.loads(nb.read_text())['cells']
    from fix_notebooks import mixes_imports
    bad = [i for i, c in enumerate(cells) if c['cell_type'] == 'code' and mixes_imports(''.join(c['source']))]
    assert not bad, f"{nb.name}: cells {bad} mix imports with code; put the imports in a cell of their own (tests/fix_notebooks.py)"

def test_readme_is_index_page():
    "README.md is the docs home page (nbs/index.ipynb), as nbdev_readme / `eo_moe_docs --readme` write it."
    from eo_moe_nb.docs import readme_from_index
    assert (ROOT/'README.md').read_text() == readme_from_index(ROOT/'nbs'/'index.ipynb'), "run `eo_moe_docs --readme`"

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_notebook_has_python3_kernelspec(nb):
    "papermill runs a notebook with the kernel its metadata names; jupytext conversions drop it."
    ks = json.loads(nb.read_text())['metadata'].get('kernelspec', {})
    assert ks.get('name') == 'python3', f"{nb.name} has no python3 kernelspec: add it (tests/fix_notebooks.py)"

COMPONENTS = [p for p in NBS if p not in EXPERIMENTS and not re.search(r'^skip_exec:\s*true', p.read_text()[:2000].replace('\\n', '\n'), re.M)]

def expected_output(src:str)->str|None:
    "What a code cell shows when run: 'text' for a top-level print/display, 'figure' for a top-level plot it does not close."
    if re.match(r'#\|\s*export', src): return None
    top = [l for l in src.splitlines() if l and not l[0].isspace() and not l.startswith('#')]
    if any(re.match(r'(print|display)\(', l) for l in top): return 'text'
    plots = r'(\w+\s*(,\s*\w+)*\s*=\s*)?(plt\.(plot|imshow|subplots|figure|bar|scatter)|plot_\w+|\w+\.plot)\('
    if 'plt.close' not in src and any(re.match(plots, l) for l in top): return 'figure'
    return None

def test_expected_output():
    test_cases = {'print(1)': 'text', 'fig, ax = plt.subplots()\nax.plot([1])': 'figure', 'ax = plot_frequency(h)': 'figure',
                  'ax = plot_frequency(h)\nplt.close("all")': None, '#|export\ndef f(): print(1)': None, 'def f():\n    print(1)': None,
                  "nb = new_code_cell('plt.plot([0])')": None}
    assert {s: expected_output(s) for s in test_cases} == test_cases

@pytest.mark.parametrize('nb', COMPONENTS, ids=lambda p: p.name)
def test_component_notebook_committed_with_outputs(nb):
    "Component notebooks are committed executed (`eo_moe_docs --execute`): every printing or plotting cell has its output, figures as small PNGs."
    cells = [c for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']
    missing = []
    for i, c in enumerate(cells):
        want, outs = expected_output(''.join(c['source'])), c.get('outputs', [])
        if want == 'text' and not any(o['output_type'] in ('stream', 'execute_result', 'display_data') for o in outs): missing.append((i, want))
        if want == 'figure' and not any('image/png' in o.get('data', {}) for o in outs): missing.append((i, want))
    assert not missing, f"{nb.name}: code cells {missing} have no output: run `eo_moe_docs --execute --only {nb.stem}` and commit"
    import base64
    big = [(i, n) for i, c in enumerate(cells) for o in c.get('outputs', []) if 'image/png' in o.get('data', {})
           if (n := len(base64.b64decode(o['data']['image/png']))) > 150_000]
    assert not big, f"{nb.name}: PNG outputs over 150 kB (cell, bytes): {big}"

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_committed_outputs_ran_clean(nb):
    "No committed output is an error or a traceback: the notebook ran to the end when its outputs were saved."
    cells = [c for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']
    bad = [i for i, c in enumerate(cells) for o in c.get('outputs', [])
           if o['output_type'] == 'error' or (o['output_type'] == 'stream' and 'Traceback (most recent call last)' in ''.join(o['text']))]
    assert not bad, f"{nb.name}: code cells {bad} hold errors: fix the notebook, then `eo_moe_docs --execute --only {nb.stem}`"
