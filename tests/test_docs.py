"nbdev_docs keeps working where Quarto exists: run it with a stand-in `quarto` that records its calls and writes pages."
import os, shutil, subprocess, sys, textwrap
from pathlib import Path
import pytest
from conftest import ROOT

FAKE_QUARTO = textwrap.dedent('''\
    #!/usr/bin/env python3
    # stand-in for Quarto: log the call, write one page per processed notebook (or the -o target)
    import sys, os, pathlib
    log = pathlib.Path(os.environ['FAKE_QUARTO_LOG']); log.write_text(log.read_text() + ' '.join(sys.argv[1:]) + '\\n' if log.exists() else ' '.join(sys.argv[1:]) + '\\n')
    args = sys.argv[1:]
    if args[:1] == ['--version']: print('1.6.0'); sys.exit(0)
    out = pathlib.Path('_docs'); out.mkdir(exist_ok=True)
    if '-o' in args: (out/args[args.index('-o') + 1]).write_text('# rendered by fake quarto\\n'); sys.exit(0)
    for nb in pathlib.Path('.').glob('*.ipynb'): (out/(nb.stem + '.html')).write_text(nb.read_text())
''')

def test_nbdev_docs_with_quarto_on_path(tmp_path):
    repo = tmp_path/'repo'
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns('.git', '.venv', '_proc', '_docs', '_html', 'runs', '__pycache__', '*.egg-info'))
    bin_ = tmp_path/'bin'; bin_.mkdir()
    (bin_/'quarto').write_text(FAKE_QUARTO); (bin_/'quarto').chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               FAKE_QUARTO_LOG=str(tmp_path/'quarto.log'))
    r = subprocess.run([str(Path(sys.executable).parent/'nbdev_docs')], cwd=repo, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    calls = (tmp_path/'quarto.log').read_text()
    assert 'render --no-cache' in calls                       # the site render
    nbs = [p.stem for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_')]
    pages = {p.stem for p in (repo/'_docs').glob('*.html')}
    assert set(nbs) <= pages, f"not processed for Quarto: {sorted(set(nbs) - pages)}"
    core = (repo/'_docs'/'00_core.html').read_text()
    assert 'get_config' in core and 'a registered model family' in core  # show_doc cells executed by nbdev's processors
    # the page nbdev's links point to (eo_moe_nb/_modidx.py), which eo_moe_docs' site uses, is Quarto's page too
    # for undotted names (nbdev's front matter turns `10_models.mapex` into `models.html`, not `models.mapex.html`)
    import nbformat
    from eo_moe_nb.docs import front_matter, page_name
    assert front_matter(nbformat.read(repo/'_proc'/'06_moe.ipynb', as_version=4))['output-file'] == page_name('06_moe') + '.html' == 'moe.html'
    assert 'class SoftMoE(' in (repo/'_docs'/'06_moe.html').read_text()   # settings.ini's show_doc renderer, in Quarto builds too
