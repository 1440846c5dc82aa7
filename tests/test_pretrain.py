"""`python -m eo_moe_nb.pretrain` (nbs/16b_pretrain.ipynb) as a user runs it, in subprocesses, at the tiny presets on a
few synthetic samples (one epoch):
- each model family trains, prints its run key and that it is new, and writes metrics + manifest to --out-dir;
- the same command again reuses the finished run (and says so); a changed lr is another run key;
- an unknown option, model or family option fails with a clear message (exit 2) and writes nothing;
- under `torchrun --nproc_per_node 2` (CPU, gloo) the run has the same key, steps and learning rates as one process
  with the same global batch, and its losses match: each step's train loss within 30% and their mean within 10%,
  validation losses within 20% (not equal: each rank draws its own masks, so the two runs see the same images under
  other masks; measured on this setup: most steps within 3%, the two batches holding outlier scenes 10% and 18%, the
  mean 4%, validation 3%); only rank 0 reports and writes outputs (one report line, the same files as one process).
About 1.5 minutes on an idle 2-core machine.
"""
import json, subprocess
from pathlib import Path
import pytest
from conftest import ROOT, launch, ok

SMALL = ['--epochs', '1', '--batch-size', '8', '--n-samples', '24']

def cli(*args, nproc:int=1, timeout:int=300)->subprocess.CompletedProcess:
    return launch('-m', 'eo_moe_nb.pretrain', *args, nproc=nproc, port=7, timeout=timeout, cwd=ROOT)

def metrics(out:Path, model:str)->dict: return json.loads((out/f"pretrain_{model}_tiny_metrics.json").read_text())

@pytest.fixture(scope='module')
def tmp(tmp_path_factory):
    pytest.importorskip('accelerate')
    return tmp_path_factory.mktemp('pretrain')

@pytest.mark.parametrize('model,extra', [('mapex', ['--modalities', 'RGB,SAR']), ('csmoe', []), ('moe_mae', [])])
def test_cli_trains_each_family(tmp, model, extra):
    out = tmp/f'out_{model}'
    so = ok(cli(model, *SMALL, '--ckpt-dir', tmp/'ck', '--out-dir', out, *extra))
    m = metrics(out, model)
    assert m['state'] == 'new' and m['resumed'] is False and m['steps'] >= 1 and m['world_size'] == 1
    assert f"run {m['run']} new (trained from scratch)" in so
    assert Path(m['checkpoint']) == tmp/'ck'/m['run']/'last.pth' and Path(m['checkpoint']).exists()
    assert m['run_keys'][m['run'].rsplit('-', 1)[0]]['key'] == m['run_key']
    man = json.loads((out/f"manifest_pretrain_{model}_tiny.json").read_text())
    assert man['parameters']['model'] == model and man['parameters']['command'].startswith('python -m eo_moe_nb.pretrain ' + model)
    assert 'synthetic' in m['data']

def test_repeat_reuses_and_lr_is_a_new_run(tmp):
    args = ['mapex', *SMALL, '--modalities', 'RGB,SAR', '--ckpt-dir', tmp/'ck']
    first = metrics(tmp/'out_mapex', 'mapex') if (tmp/'out_mapex').exists() else None
    if first is None: ok(cli(*args, '--out-dir', tmp/'out_mapex')); first = metrics(tmp/'out_mapex', 'mapex')
    so = ok(cli(*args, '--out-dir', tmp/'again'))
    again = metrics(tmp/'again', 'mapex')
    assert (again['run_key'], again['state']) == (first['run_key'], 'finished')
    assert 'finished earlier: reusing its checkpoint' in so and '(reused, nothing trained)' in so
    ok(cli(*args, '--lr', '1e-3', '--out-dir', tmp/'lr'))
    other = metrics(tmp/'lr', 'mapex')
    assert other['run_key'] != first['run_key'] and other['state'] == 'new' and other['lr'] == 1e-3

@pytest.mark.parametrize('args,msg', [
    (['mapex', '--epoch', '2'], "unknown argument(s) '--epoch' (did you mean '--epochs'?)"),
    (['mapx'], "model='mapx' is not one of ['mapex', 'mae_vit', 'csmoe', 'csmae', 'moe_mae'] (did you mean 'mapex'?)"),
    (['moe_mae', '--modalities', 'RGB'], "unknown option(s) 'modalities' for model 'moe_mae'"),
    (['csmoe', '--scale', 'paper'], "scale='paper' needs the real data"),
])
def test_wrong_values_fail_and_write_nothing(tmp, args, msg):
    d = tmp/'nothing'
    p = cli(*args, '--ckpt-dir', d, '--out-dir', d/'out', timeout=120)
    assert p.returncode == 2, p.stdout[-2000:] + p.stderr[-2000:]
    assert msg in p.stderr, p.stderr[-2000:]
    assert not d.exists()

def test_two_processes_match_one(tmp):
    import torch
    args = ['mae_vit', '--epochs', '2', '--batch-size', '8', '--n-samples', '40', '--modalities', 'RGB,SAR']
    ok(cli(*args, '--ckpt-dir', tmp/'one', '--out-dir', tmp/'one'))
    so = ok(cli(*args, '--ckpt-dir', tmp/'two', '--out-dir', tmp/'two', nproc=2))
    m1, m2 = metrics(tmp/'one', 'mae_vit'), metrics(tmp/'two', 'mae_vit')
    assert (m1['world_size'], m2['world_size']) == (1, 2) and m1['run_key'] == m2['run_key'] and so.count('pretrain mae_vit tiny: run') == 1
    h1, h2 = (torch.load(Path(m['checkpoint']), weights_only=False)['history'] for m in (m1, m2))
    assert h1['step'] == h2['step'] == list(range(1, 9)) and h1['lr'] == h2['lr']   # 32 train scenes: 4 global batches of 8 an epoch
    for k, tol in (('train_loss', 0.3), ('valid_loss', 0.2)):     # 8 validation scenes: one global batch, no padding
        assert len(h1[k]) == len(h2[k]) and all(abs(a - b) <= tol * abs(a) for a, b in zip(h1[k], h2[k])), (k, h1[k], h2[k])
    mean = lambda v: sum(v) / len(v)
    assert abs(mean(h1['train_loss']) - mean(h2['train_loss'])) <= 0.1 * mean(h1['train_loss']), (h1['train_loss'], h2['train_loss'])
    assert h1['train_loss'][-1] < h1['train_loss'][0] and h2['train_loss'][-1] < h2['train_loss'][0]
    assert sorted(p.name for p in (tmp/'two').rglob('*') if p.is_file()) == sorted(p.name for p in (tmp/'one').rglob('*') if p.is_file())

def test_accelerate_launch(tmp):
    "`accelerate launch -m eo_moe_nb.pretrain` (one CPU process here: accelerate runs several CPU processes only through MPI)."
    so = ok(launch('-m', 'accelerate.commands.launch', '--cpu', '--num_processes', '1', '--num_machines', '1',
                   '--mixed_precision', 'no', '--dynamo_backend', 'no', '-m', 'eo_moe_nb.pretrain', 'moe_mae', *SMALL,
                   '--ckpt-dir', tmp/'acc', '--out-dir', tmp/'acc_out', cwd=ROOT))
    m = metrics(tmp/'acc_out', 'moe_mae')
    assert (m['state'], m['world_size']) == ('new', 1) and f"run {m['run']} new" in so
    if (tmp/'out_moe_mae').exists(): assert m['run_key'] == metrics(tmp/'out_moe_mae', 'moe_mae')['run_key']   # same run as `python -m`

@pytest.mark.parametrize('model,sub,kind', [('csmoe', 'bigearthnet_s1s2_samples/v2_lmdb', 'bigearthnet-v2-lmdb'),
                                            ('moe_mae', 'bigearthnet_landsat_samples', 'ben-ls')])
def test_real_data_goes_through_open_dataset(tmp, model, sub, kind):
    "`pretrain` on the real samples of ../shared/data (skipped when absent): the layout is recognised, the run names it."
    from eo_moe_nb.core import shared_data_dir
    from eo_moe_nb.pretrain import pretrain
    from eo_moe_nb.experiment import data_identity
    sd = shared_data_dir()
    if sd is None or not (sd/sub).exists(): pytest.skip(f"../shared/data/{sub} absent")
    opts = dict(split=None) if model == 'moe_mae' else {}
    r = pretrain(model, 'tiny', sd/sub, epochs=1, batch_size=8, ckpt_dir=tmp/'real', progress=False, **opts)
    assert (r.data['kind'], r.state, r.data['desc']) == (kind, 'new', f"{kind}{' S1+S2 pairs' if model == 'csmoe' else ''} at {(sd/sub).resolve()}")
    assert r.data['identity'] == data_identity(sd/sub) and r.parts['data'] == r.data['identity'] and len(r.history['step']) >= 1
