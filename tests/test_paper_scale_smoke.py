"""tests/bench/paper_scale_smoke.py (the paper-scale GPU throughput run) works end to end; here at the tiny presets on
the CPU: in this process, and under `torchrun --nproc_per_node 2` (gloo), where rank 0 alone writes the table."""
import importlib.util, json
from conftest import ROOT, launch, ok

def _load():
    spec = importlib.util.spec_from_file_location('paper_scale_smoke', ROOT/'tests'/'bench'/'paper_scale_smoke.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

def test_smoke_script_tiny(tmp_path):
    mod = _load()
    rows = mod.main(['--scale', 'tiny', '--steps', '2', '--batch', '2', '--peak-tflops', '1', '--out', str(tmp_path/'t.md')])
    assert [r['model'] for r in rows] == ['mapex', 'csmoe', 'moe_mae']
    assert all(r['sec_per_step'] > 0 and r['images_per_sec'] > 0 and r['steps'] == 2 for r in rows)
    assert all((r['processes'], r['precision']) == (1, 'fp32') for r in rows)
    assert all(r['train_GFLOPs_per_image'] > 0 and r['est_mem_GiB'] > 0 for r in rows)
    assert all(abs(r['mfu'] - r['TFLOPs_per_sec_per_device']) <= 1e-4 for r in rows)       # peak 1 TFLOP/s
    assert rows[0]['input'].startswith('6 modalities (13 bands)')
    md = (tmp_path/'t.md').read_text()
    assert 'tiny presets' in md and md.count('\n| ') == 4          # header + 3 models
    assert json.loads((tmp_path/'t.json').read_text())['rows'] == rows
    assert mod.peak_tflops('NVIDIA H100 PCIe') == 756. and mod.peak_tflops('NVIDIA H200') == 989. and mod.peak_tflops('cpu') is None

def test_smoke_script_two_processes(tmp_path):
    p = launch(ROOT/'tests'/'bench'/'paper_scale_smoke.py', '--scale', 'tiny', '--steps', '1', '--batch', '2',
               '--models', 'csmoe,moe_mae', '--out', tmp_path/'t2.md', nproc=2, port=3)
    ok(p, tail=2000)
    rows = json.loads((tmp_path/'t2.json').read_text())['rows']
    assert [(r['model'], r['processes']) for r in rows] == [('csmoe', 2), ('moe_mae', 2)]
    # 2 ranks x batch 2 per step; images/s is rounded to 0.1, sec_per_step to 4 significant digits (a relative 5e-4)
    assert all(abs(r['images_per_sec'] - 4 / r['sec_per_step']) <= 0.05 + 1e-3 * r['images_per_sec'] for r in rows)
    assert p.stdout.count('"model": "csmoe"') == 1                                        # rank 0 alone prints
