"""What a new user does after the quick start, through papermill at scale='tiny': other data and other parameters are
new runs that train, the same command reuses the finished run, a misspelt or wrong parameter stops the run before it
writes anything, `-p epochs 1` succeeds (with a warning), relative paths resolve against the repository root."""
import json, shutil, uuid
from pathlib import Path
import pytest
from conftest import ROOT, run_papermill, papermill_error, stdout, files

NB30 = '30_mapex_pretrain.ipynb'

def test_30_other_data_and_other_lr_are_new_runs(tmp_path):
    from eo_moe_nb.data.synthetic import make_synthetic_benge
    ck = tmp_path/'ckpt'
    def go(tag, **kw):
        nb = run_papermill(NB30, tmp_path/f"nb_{tag}", scale='tiny', epochs=2, out_dir=str(tmp_path/tag), ckpt_dir=str(ck), **kw)
        return json.loads((tmp_path/tag/'pretrain_tiny_metrics.json').read_text()), stdout(nb)
    m1, _ = go('quick_start')
    m2, s2 = go('again')                                   # the same command: the finished run is reused
    m3, _ = go('lr', lr=1e-3)                              # a changed hyperparameter: a new run
    other = make_synthetic_benge(tmp_path/'other-ben-ge', n_samples=40, size=32, seed=7)
    m4, s4 = go('other_data', data_dir=str(other))         # other data: a new run that trains on them
    r = [m['run_keys']['pretrain'] for m in (m1, m2, m3, m4)]
    assert [x['state'] for x in r] == ['new', 'finished', 'new', 'new']
    assert r[1]['key'] == r[0]['key'] and len({r[0]['key'], r[2]['key'], r[3]['key']}) == 3, [x['key'] for x in r]
    assert f"run pretrain-{r[0]['key']}: finished earlier" in s2 and f"run pretrain-{r[3]['key']}: new" in s4
    assert (m3['lr'], r[2]['parts']['train']['lr']) == (1e-3, 1e-3)
    # 40 scenes: 32 train at batch 16 = 2 steps per epoch (the synthetic default: 128 train, 8 steps per epoch)
    assert (m1['steps'], m4['steps']) == (16, 4)
    assert r[3]['parts']['data']['kind'] == 'folder' and r[3]['parts']['data']['path'] == str(other.resolve())
    assert m4['data'] == f"ben-ge at {other.resolve()}"
    assert sorted(p.parent.name for p in ck.glob('*/last.pth')) == sorted(f"pretrain-{x['key']}" for x in (r[0], r[2], r[3]))

@pytest.mark.parametrize('params, message', [
    (dict(datadir='/data/ben-ge'), "unknown parameter(s) 'datadir' (did you mean 'data_dir'?). This notebook's parameters are: scale, data_dir,"),
    (dict(scale='smal'), "scale='smal' is not one of ['tiny', 'small', 'paper'] (did you mean 'small'?)"),
    (dict(modalities='RGB,SRA'), "an item of modalities='SRA' is not one of"),
    (dict(model='mapx'), "(did you mean 'mapex'?)"),
    (dict(data_dir='/nonexistent/ben-ge'), "data_dir='/nonexistent/ben-ge': no folder at /nonexistent/ben-ge"),
    (dict(epochs='ten'), "parameter epochs must be int, got 'ten' (str)"),
])
def test_30_bad_parameter_stops_before_writing(tmp_path, params, message):
    out, ck = tmp_path/'figs', tmp_path/'ckpt'
    err = papermill_error(NB30, tmp_path/'nb', **{'scale': 'tiny', 'out_dir': str(out), 'ckpt_dir': str(ck), **params})
    assert 'ParameterError' in err and message in err, err
    assert (files(out), files(ck)) == ([], [])

def test_30_one_epoch_succeeds_and_warns(tmp_path):
    out = tmp_path/'figs'
    nb = run_papermill(NB30, tmp_path, scale='tiny', epochs=1, out_dir=str(out), ckpt_dir=str(tmp_path/'ckpt'))
    m = json.loads((out/'pretrain_tiny_metrics.json').read_text())
    man = json.loads((out/'manifest_30_mapex_pretrain_tiny.json').read_text())
    assert (m['epochs'], m['steps']) == (1, 8)
    assert len(m['warnings']) == 1 and m['warnings'][0].startswith('training did not lower the loss') and man['warnings'] == m['warnings']
    assert 'WARNING: training did not lower the loss' in stdout(nb)

def test_30_relative_paths_resolve_against_the_repository_root(tmp_path):
    "Run from nbs/ (papermill --cwd nbs) with relative out_dir and ckpt_dir: both land under the repository root."
    rel = f"runs/test-{uuid.uuid4().hex[:8]}"
    try:
        run_papermill(NB30, tmp_path, cwd=ROOT/'nbs', scale='tiny', epochs=1, out_dir=f"{rel}/figs", ckpt_dir=f"{rel}/ckpt")
        assert 'pretrain_tiny_metrics.json' in files(ROOT/rel/'figs') and len(list((ROOT/rel/'ckpt').glob('pretrain-*/last.pth'))) == 1
        assert files(ROOT/'nbs'/'runs') == []
    finally: shutil.rmtree(ROOT/rel, ignore_errors=True)

def test_readme_last_run_column_is_generated(tmp_path):
    "paper_figures/README.md's 'last run' column is what write_last_run makes of the manifests and metrics beside the outputs."
    from eo_moe_nb.experiment import write_last_run
    shutil.copytree(ROOT/'paper_figures', tmp_path/'pf')
    n = write_last_run(tmp_path/'pf'/'README.md')
    assert n >= 15 and (tmp_path/'pf'/'README.md').read_text() == (ROOT/'paper_figures'/'README.md').read_text(), \
        "run write_last_run() and commit paper_figures/README.md"

def test_30_precision_and_accumulation_are_parameters_of_the_run(tmp_path):
    "`-p precision bf16 -p accum 2` trains (bf16 autocast on CPU) under its own run key, which records both."
    out, ck = tmp_path/'figs', tmp_path/'ckpt'
    run_papermill(NB30, tmp_path/'nb', scale='tiny', epochs=1, precision='bf16', accum=2, out_dir=str(out), ckpt_dir=str(ck))
    m = json.loads((out/'pretrain_tiny_metrics.json').read_text())
    train = m['run_keys']['pretrain']['parts']['train']
    assert (train['precision'], train['accum'], m['steps']) == ('bf16', 2, 8), (train, m['steps'])
    err = papermill_error(NB30, tmp_path/'nb_bad', scale='tiny', precision='fp8', out_dir=str(tmp_path/'bad'), ckpt_dir=str(ck))
    assert 'ParameterError' in err and "precision='fp8' is not one of" in err, err
    assert files(tmp_path/'bad') == []
