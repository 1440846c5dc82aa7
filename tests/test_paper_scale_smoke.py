"""tests/bench/paper_scale_smoke.py (the paper-scale GPU throughput run) works end to end; here at the tiny presets."""
import importlib.util, json
from conftest import ROOT

def test_smoke_script_tiny(tmp_path):
    spec = importlib.util.spec_from_file_location('paper_scale_smoke', ROOT/'tests'/'bench'/'paper_scale_smoke.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    rows = mod.main(['--scale', 'tiny', '--steps', '2', '--batch', '2', '--out', str(tmp_path/'t.md')])
    assert [r['model'] for r in rows] == ['mapex', 'csmoe', 'moe_mae']
    assert all(r['sec_per_step'] > 0 and r['images_per_sec'] > 0 and r['steps'] == 2 for r in rows)
    assert rows[0]['input'].startswith('6 modalities (13 bands)')
    md = (tmp_path/'t.md').read_text()
    assert 'tiny presets' in md and md.count('\n| ') == 4          # header + 3 models
    assert json.loads((tmp_path/'t.json').read_text())['rows'] == rows
