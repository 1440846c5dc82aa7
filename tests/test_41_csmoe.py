"CSMoE experiment notebooks 41_csmoe_pretrain and 42_csmoe_eval at scale='tiny' through papermill: outputs, -p values, loss, run identity, real data, paper numbers beside ours."
import json
from pathlib import Path
import pandas as pd, pytest, torch
from conftest import run_papermill, papermill_error, files
from eo_moe_nb.core import shared_data_dir
from eo_moe_nb.experiment import paper_numbers

PAPER = paper_numbers('csmoe')
BEN = shared_data_dir()/'bigearthnet_s1s2_samples' if shared_data_dir() is not None else None
needs_ben = pytest.mark.skipif(BEN is None or not (BEN/'v1_npz').exists(), reason="shared BigEarthNet S1+S2 samples absent")

@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('csmoe')
    out, ck = tmp/'figs', tmp/'ckpt'
    run_papermill('41_csmoe_pretrain.ipynb', tmp, scale='tiny', epochs=8, seed=2, snapshots=2, out_dir=str(out), ckpt_dir=str(ck))
    return tmp, out, ck

def test_pretrain_tiny(pretrained):
    tmp, out, ck = pretrained
    m = json.loads((out/'pretrain_tiny_metrics.json').read_text())
    assert (m['epochs'], m['seed'], m['snapshot_epochs']) == (8, 2, [4, 8])   # the -p values, not the defaults
    assert set(m['runs']) == {'csmoe_p4', 'csmoe_p8', 'csmae_p4'}
    assert m['warnings'] == []   # the run's sanity check (training lowers the loss) is a warning there, an assertion here
    for k, r in m['runs'].items():
        assert r['last_epoch_train_loss'] < 0.9 * r['first_epoch_train_loss'], (k, r['first_epoch_train_loss'], r['last_epoch_train_loss'])
        assert (len(r['valid_loss']), sorted(r['valid_parts'][-1])) == (8, ['aux', 'cmr', 'mi', 'umr']), k
    aux = {k: m['runs'][k]['valid_parts'][-1]['aux'] for k in ('csmae_p4', 'csmoe_p4')}
    assert aux['csmae_p4'] == 0 < aux['csmoe_p4'], aux
    sizes = {f: (out/f'pretrain_tiny_{f}').stat().st_size for f in ('loss.png', 'loss_parts.png', 'epochs.png', 'summary.csv', 'summary.md')}
    assert {f: s > 100 for f, s in sizes.items()} == {f: True for f in sizes}, sizes
    md = (out/'pretrain_tiny_summary.md').read_text()
    for w in ('Scale: tiny', 'not BigEarthNet', 'not re-run'): assert w in md, (w, md)
    t = pd.read_csv(out/'pretrain_tiny_summary.csv')
    assert t.loc[t.model == 'CSMAE', 'paper_params_224px'].item() == PAPER['params']['rows']['CSMAE']
    rk = m['run_keys']
    assert sorted(p.parent.name for p in ck.glob('*/last.pth')) == sorted(f"{k}-{r['key']}" for k, r in rk.items())
    assert [r['state'] for r in rk.values()] == ['new'] * 3 and rk['csmoe_p4']['parts']['train']['snapshots'] == [4, 8]
    assert (rk['csmae_p4']['parts']['model']['soft_moe'], rk['csmoe_p4']['parts']['data']['kind']) == (False, 'generated')
    main = Path(rk['csmoe_p4']['checkpoint'])
    state = torch.load(main, weights_only=False)
    h = state['history']   # the loss parts per step and per validation epoch (16_train's Checkpoint)
    assert (state['epoch'], {k: len(v) for k, v in h['parts'].items()}) == (7, {k: len(h['step']) for k in ('umr', 'cmr', 'mi', 'aux')})
    assert (state['meta']['model_class'], state['meta']['cfg']['patch_size']) == ('CSMoE', 4)   # checkpoint_meta: from_checkpoint rebuilds it
    assert sorted(p.name for p in main.parent.glob('last.epoch*.pth')) == ['last.epoch4.pth', 'last.epoch8.pth']   # keep_epochs
    assert f"runs csmoe_p4-{rk['csmoe_p4']['key']}" in md

def test_eval_tiny(pretrained):
    tmp, out, ck = pretrained
    run_papermill('42_csmoe_eval.ipynb', tmp/'eval', scale='tiny', seed=2, cbir_k=5, seg_epochs=4, pretrain_epochs=8, pretrain_snapshots=2,
                  out_dir=str(out), ckpt_dir=str(ck))
    m = json.loads((out/'eval_tiny_metrics.json').read_text())
    pre = json.loads((out/'pretrain_tiny_metrics.json').read_text())['run_keys']
    assert (m['cbir_k'], m['seg_epochs'], m['seed']) == (5, 4, 2)
    # 41's finished runs are reused (the same keys), not retrained
    assert {k: (r['key'], r['state']) for k, r in m['run_keys'].items()} == {k: (r['key'], '41_csmoe_pretrain: finished') for k, r in pre.items()}
    assert set(m['models']) == {'csmoe_p4', 'csmoe_p8', 'csmae_p4'}
    for k, r in m['models'].items():
        assert 0 < r['micro_map'] <= 100 and 0 < r['seg_miou'] <= 100 and r['fvcore_flops'] > 0, (k, r['micro_map'], r['seg_miou'], r['fvcore_flops'])
    assert [e['epoch'] for e in m['epochs_study']] == [4, 8]
    for f in ('table4_patch_sizes', 'table5_cls_strategies', 'table6_cbir', 'epochs'):
        md = (out/f'eval_tiny_{f}.md').read_text()
        for w in ('Scale: tiny', 'synthetic'): assert w in md, (f, w)
        if f != 'epochs': assert 'not re-run' in md, f
    t4 = pd.read_csv(out/'eval_tiny_table4_patch_sizes.csv', dtype=str).set_index('patch_size')
    main = t4[t4.model == 'CSMoE'].loc['4']     # our main patch size sits beside the paper's rho 16 row
    p16 = dict(zip(PAPER['table4']['columns'], PAPER['table4']['rows']['16']))
    assert (float(main['paper: m-bigearthnet mAP']), float(main['paper: m-cashew-plant IoU'])) == (p16['m-bigearthnet mAP'], p16['m-cashew-plant IoU'])
    assert 0 < float(main['ours: synthetic BEN-style mAP (S2 [CLS])']) <= 100, main
    t5 = pd.read_csv(out/'eval_tiny_table5_cls_strategies.csv').set_index('strategy')
    assert (t5.loc['only [CLS]', 'paper: m-bigearthnet mAP'], len(t5)) == (PAPER['table5']['rows']['only [CLS]'][0], 5)
    t6 = pd.read_csv(out/'eval_tiny_table6_cbir.csv')
    r = t6[(t6.model == 'CSMAE') & (t6.feature == 'only [CLS]')].iloc[0]
    assert r['paper BENv2-14k: S2->S2'] == PAPER['table6']['rows']['CSMAE'][1] and 0 <= r['ours: S2->S2'] <= 100, r
    ep = pd.read_csv(out/'eval_tiny_epochs.csv')
    assert (list(ep.epoch), ep.norm_mean.between(0, 100).all()) == ([4, 8], True), ep
    sizes = {f: (out/f'eval_tiny_{f}').stat().st_size for f in ('perf_vs_flops.png', 'seg_examples.png', 'epochs.png')}
    assert {f: s > 100 for f, s in sizes.items()} == {f: True for f in sizes}, sizes
    real = out/'eval_tiny_real_ben60.csv'
    assert (m['real_ben60'] is None) != real.exists()   # the real check ran exactly when the shared data were present

@needs_ben
def test_eval_tiny_on_real_pairs(pretrained):
    "42 with -p data_dir: the real BigEarthNet v2 pairs, their own splits, through open_dataset; no reference maps, so no segmentation probe."
    tmp, _, ck = pretrained
    out = tmp/'real_eval'
    run_papermill('42_csmoe_eval.ipynb', tmp/'eval_real', scale='tiny', seed=2, cbir_k=3, pretrain_epochs=8, pretrain_snapshots=2,
                  real_data=False, data_dir=str(BEN/'v2_lmdb'), out_dir=str(out), ckpt_dir=str(ck))
    m = json.loads((out/'eval_tiny_metrics.json').read_text())
    assert (m['evaluation'], m['seg_epochs'], m['n_seg_classes']) == (f"bigearthnet-v2-lmdb S1+S2 pairs at {BEN/'v2_lmdb'} (real data)", None, 0)
    assert {k: r['seg_miou'] for k, r in m['models'].items()} == {k: None for k in m['models']}
    assert all(0 < r['micro_map'] <= 100 for r in m['models'].values()), m['models']
    md = (out/'eval_tiny_table4_patch_sizes.md').read_text()
    assert 'no segmentation probe' in md and 'real data' in md, md
    assert not (out/'eval_tiny_seg_examples.png').exists()

@pytest.fixture(scope='module')
def one_epoch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('csmoe1')
    run_papermill('41_csmoe_pretrain.ipynb', tmp/'syn', scale='tiny', epochs=1, baseline=False, patch_sizes='4', out_dir=str(tmp/'syn_figs'), ckpt_dir=str(tmp/'ckpt'))
    return tmp, json.loads((tmp/'syn_figs'/'pretrain_tiny_metrics.json').read_text())

def test_pretrain_one_epoch_succeeds(one_epoch):
    "`-p epochs 1`, the natural smoke test, trains and writes everything; the loss check needs two epochs, so it raises no warning."
    tmp, m = one_epoch
    assert (m['epochs'], list(m['runs']), m['warnings']) == (1, ['csmoe_p4'], [])
    assert (m['runs']['csmoe_p4']['steps'], m['run_keys']['csmoe_p4']['state']) == (5, 'new')   # 86 training pairs, full batches of 16
    assert {'pretrain_tiny_summary.md', 'pretrain_tiny_loss.png', 'manifest_41_csmoe_pretrain_tiny.json'} <= set(files(tmp/'syn_figs'))

@needs_ben
def test_pretrain_on_real_pairs_is_a_new_run(one_epoch):
    "-p data_dir on other data: the same command on real BigEarthNet npz pairs is another run (new key, trained), not a resume."
    tmp, syn = one_epoch
    out = tmp/'real_figs'
    run_papermill('41_csmoe_pretrain.ipynb', tmp/'real', scale='tiny', epochs=1, baseline=False, patch_sizes='4',
                  data_dir=str(BEN/'v1_npz'), out_dir=str(out), ckpt_dir=str(tmp/'ckpt'))
    m = json.loads((out/'pretrain_tiny_metrics.json').read_text())
    r, s = m['run_keys']['csmoe_p4'], syn['run_keys']['csmoe_p4']
    assert r['key'] != s['key'] and r['state'] == 'new', (r['key'], s['key'], r['state'])
    assert (r['parts']['data']['kind'], r['parts']['data']['path']) == ('folder', str(BEN/'v1_npz'))
    assert {k: v for k, v in r['parts'].items() if k != 'data'} == {k: v for k, v in s['parts'].items() if k != 'data'}   # only the data differ
    assert m['data'].startswith(f"bigearthnet-v1-npz S1+S2 pairs at {BEN/'v1_npz'}"), m['data']
    assert m['runs']['csmoe_p4']['steps'] == 1   # 27 of the 30 real pairs train, one full batch of 16 (drop_last)
    assert 'not BigEarthNet' not in (out/'pretrain_tiny_summary.md').read_text()

def test_pretrain_bad_parameters_stop_before_writing(tmp_path):
    out, ck = tmp_path/'figs', tmp_path/'ckpt'
    kw = dict(scale='tiny', out_dir=str(out), ckpt_dir=str(ck))
    err = papermill_error('41_csmoe_pretrain.ipynb', tmp_path/'a', datadir='/data/ben', **kw)
    assert "unknown parameter(s) 'datadir' (did you mean 'data_dir'?)" in err, err
    err = papermill_error('41_csmoe_pretrain.ipynb', tmp_path/'b', data_dir=str(tmp_path/'nope'), **kw)
    assert f"data_dir='{tmp_path/'nope'}': no folder at" in err, err
    (tmp_path/'empty').mkdir()
    err = papermill_error('41_csmoe_pretrain.ipynb', tmp_path/'c', data_dir=str(tmp_path/'empty'), **kw)
    assert "no known dataset layout" in err, err
    assert (files(out), files(ck)) == ([], [])

@pytest.mark.skipif(shared_data_dir() is None or not (shared_data_dir()/'bigearthnet_landsat_samples').exists(), reason="shared BEN-LS samples absent")
def test_pretrain_refuses_data_without_pairs(tmp_path):
    "A dataset open_dataset reads but that holds no S1+S2 pairs (BigEarthNet-Landsat) stops the run before it writes."
    out = tmp_path/'figs'
    err = papermill_error('41_csmoe_pretrain.ipynb', tmp_path/'a', scale='tiny', data_dir=str(shared_data_dir()/'bigearthnet_landsat_samples'),
                          out_dir=str(out), ckpt_dir=str(tmp_path/'ckpt'))
    assert 'holds ben-ls data; csmoe pretrains on bigearthnet-v2-lmdb' in err, err
    assert files(out) == []
