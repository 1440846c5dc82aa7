"CSMoE experiment notebooks 41_csmoe_pretrain and 42_csmoe_eval at scale='tiny' through papermill: outputs, -p values, loss, paper numbers beside ours."
import json
from pathlib import Path
import pandas as pd, pytest, torch
from conftest import run_papermill

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
    assert m['warnings'] == []
    for k, r in m['runs'].items():   # the sanity check the run only warns about, asserted with enough epochs
        assert r['last_epoch_train_loss'] < 0.9 * r['first_epoch_train_loss'], (k, r['first_epoch_train_loss'], r['last_epoch_train_loss'])
        assert (len(r['valid_loss']), sorted(r['valid_parts'][-1])) == (8, ['aux', 'cmr', 'mi', 'umr']), k
    assert m['runs']['csmae_p4']['valid_parts'][-1]['aux'] == 0 < m['runs']['csmoe_p4']['valid_parts'][-1]['aux']
    sizes = {f: (out/f'pretrain_tiny_{f}').stat().st_size for f in ('loss.png', 'loss_parts.png', 'epochs.png', 'summary.csv', 'summary.md')}
    assert {f: s > 100 for f, s in sizes.items()} == {f: True for f in sizes}, sizes
    md = (out/'pretrain_tiny_summary.md').read_text()
    assert 'Scale: tiny' in md and 'not BigEarthNet' in md and 'not re-run' in md
    t = pd.read_csv(out/'pretrain_tiny_summary.csv')
    assert t.loc[t.model == 'CSMAE', 'paper_params_224px'].item() == '87M'
    rk = m['run_keys']
    assert sorted(p.parent.name for p in ck.glob('*/last.pth')) == sorted(f"{k}-{r['key']}" for k, r in rk.items())
    assert [r['state'] for r in rk.values()] == ['new'] * 3 and rk['csmoe_p4']['parts']['train']['snapshots'] == [4, 8]
    assert rk['csmae_p4']['parts']['model']['soft_moe'] is False and rk['csmoe_p4']['parts']['data']['kind'] == 'generated'
    main = Path(rk['csmoe_p4']['checkpoint'])
    state = torch.load(main, weights_only=False)
    assert (state['epoch'], len(state['meta']['parts']['train'])) == (7, len(state['history']['step']))
    assert sorted(p.name for p in main.parent.glob('epoch_*.pth')) == ['epoch_004.pth', 'epoch_008.pth']
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
    for f in ('table4_patch_sizes', 'table5_cls_strategies', 'table6_cbir'):
        md = (out/f'eval_tiny_{f}.md').read_text()
        for w in ('Scale: tiny', 'synthetic', 'not re-run'): assert w in md, (f, w)
    t4 = pd.read_csv(out/'eval_tiny_table4_patch_sizes.csv').set_index('patch_size')
    main = t4[t4.model == 'CSMoE'].loc[4]     # our main patch size sits beside the paper's rho 16 row
    assert main['paper: m-bigearthnet mAP'] == '66.5' and main['paper: m-cashew-plant IoU'] == '55.7'
    assert 0 < float(main['ours: synthetic BEN-style mAP (S2 [CLS])']) <= 100
    t5 = pd.read_csv(out/'eval_tiny_table5_cls_strategies.csv').set_index('strategy')
    assert t5.loc['only [CLS]', 'paper: m-bigearthnet mAP'] == 62.6 and len(t5) == 5
    t6 = pd.read_csv(out/'eval_tiny_table6_cbir.csv')
    r = t6[(t6.model == 'CSMAE') & (t6.feature == 'only [CLS]')].iloc[0]
    assert r['paper BENv2-14k: S2->S2'] == 72.29 and 0 <= r['ours: S2->S2'] <= 100
    sizes = {f: (out/f'eval_tiny_{f}').stat().st_size for f in ('perf_vs_flops.png', 'seg_examples.png', 'epochs.png', 'epochs.csv')}
    assert {f: s > 100 for f, s in sizes.items()} == {f: True for f in sizes}, sizes
    real = out/'eval_tiny_real_ben60.csv'
    assert (m['real_ben60'] is None) != real.exists()   # the real check ran exactly when the shared data were present
