"MoE-MAE experiments 50_moe_mae_pretrain and 51_moe_mae_probe at scale='tiny' through papermill: outputs, -p values, falling loss, paper numbers beside ours."
import json
import pandas as pd
import pytest, torch
from conftest import run_papermill

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('moe_mae')
    out, ck = tmp/'figs', tmp/'ckpt'
    run_papermill('50_moe_mae_pretrain.ipynb', tmp, scale='tiny', epochs=12, seed=2, out_dir=str(out), ckpt_dir=str(ck))
    run_papermill('51_moe_mae_probe.ipynb', tmp, scale='tiny', seed=2, max_iter=300, out_dir=str(out), ckpt_dir=str(ck))
    return out, ck

def test_pretrain_outputs_parameters_and_loss(runs):
    out, ck = runs
    m = json.loads((out/'pretrain_tiny_metrics.json').read_text())
    assert (m['epochs'], m['seed']) == (12, 2)                 # the -p values, not the defaults (30 epochs, seed 0)
    assert m['data_is_synthetic'] and 'not BigEarthNet-Landsat' in m['data']
    assert m['last_epoch']['masked'] < 0.8 * m['first_epoch']['masked']
    assert m['last_epoch']['total'] < m['first_epoch']['total']
    for f in ('pretrain_tiny_loss.png', 'pretrain_tiny_reconstructions.png', 'pretrain_tiny_curves.csv',
              'pretrain_tiny_summary.csv', 'pretrain_tiny_summary.md'):
        assert (out/f).stat().st_size > 100, f
    curves = pd.read_csv(out/'pretrain_tiny_curves.csv')
    assert len(curves) == 12 and {'masked', 'visible', 'moe', 'lr', 'total'} <= set(curves.columns)
    md = (out/'pretrain_tiny_summary.md').read_text()
    assert 'Scale: tiny' in md and 'not BigEarthNet-Landsat' in md and '2,500,000' in md   # the paper's count beside ours
    state = torch.load(ck/'tiny_seed2'/'last.pth', weights_only=False)
    assert state['epoch'] == 11 and len(state['history']['masked']) == m['steps']   # loss terms kept in the checkpoint

def test_probe_loads_checkpoint_and_writes_tables(runs):
    out, ck = runs
    m = json.loads((out/'probe_tiny_metrics.json').read_text())
    assert m['trained_here'] is False and m['seed'] == 2 and m['max_iter'] == 300
    assert m['checkpoint'].endswith('tiny_seed2/last.pth')
    for f in ('fig4_tiny_feature_geometry.png', 'fig5_tiny_contribution_ablation.png', 'table9_tiny_sparsity_paper_preset.csv',
              'table9_tiny_totals.md', 'table9_tiny_run_model.md', 'fig5_tiny_expert_specialisation.md'):
        assert (out/f).stat().st_size > 100, f
    t5, t6 = pd.read_csv(out/'table5_tiny_benls_probe.csv'), pd.read_csv(out/'table6_tiny_eurosatls_probe.csv')
    assert t5.embedding.tolist() == ['CLS token', 'All tokens', 'All tokens (Avg.)']
    assert t5.micro_map_paper.tolist() == [0.748, 0.767, 0.731] and t6.oa_percent_paper.tolist() == [78.4, 84.2, 74.3]
    assert t5.micro_map_ours.between(0, 1).all() and t6.oa_percent_ours.between(0, 100).all()
    assert t6.oa_percent_ours.tolist() == [round(m['table6'][h]['oa_percent'], 1) for h in ('cls', 'all', 'avg')]
    for f in ('table5_tiny_benls_probe.md', 'table6_tiny_eurosatls_probe.md'):
        md = (out/f).read_text()
        assert 'Scale: tiny' in md and 'synthetic' in md and "the paper's" in md
    assert 'not EuroSAT-Landsat' in (out/'table6_tiny_eurosatls_probe.md').read_text()
    t9 = pd.read_csv(out/'table9_tiny_sparsity_paper_preset.csv')
    assert t9.unique_k_with_bias.tolist() == t9.unique_k_paper.tolist()     # Table 9 reproduced by the paper preset
    assert abs(sum(m['utilization'][0]) - 1) < 1e-5

def test_probe_pretrains_when_checkpoint_missing(tmp_path):
    "Without a finished checkpoint, 51 runs 50 with the same scale, seed and checkpoint folder, then probes that model."
    out, ck = tmp_path/'figs', tmp_path/'ckpt'
    run_papermill('51_moe_mae_probe.ipynb', tmp_path, scale='tiny', epochs=3, max_iter=100, out_dir=str(out), ckpt_dir=str(ck))
    m = json.loads((out/'probe_tiny_metrics.json').read_text())
    assert m['trained_here'] is True and 'pretrained 3 epochs' in m['pretrain']
    assert (ck/'tiny_seed0'/'pretrain_outputs'/'pretrain_tiny_metrics.json').exists()
    assert torch.load(ck/'tiny_seed0'/'last.pth', weights_only=False)['epoch'] == 2
    assert (out/'table5_tiny_benls_probe.csv').exists() and not (out/'pretrain_tiny_metrics.json').exists()

def test_pretrain_on_real_benls_samples(tmp_path):
    "50 on the 100 real BigEarthNet-Landsat patches of ../shared/data (published layout, via `open_dataset`); skipped when absent."
    from eo_moe_nb.core import shared_data_dir
    sd = shared_data_dir()
    root = sd/'bigearthnet_landsat_samples' if sd else None
    if root is None or not (root/'bigearthnet-samples.csv').exists(): pytest.skip('no BEN-LS samples in ../shared/data')
    out = tmp_path/'figs'
    run_papermill('50_moe_mae_pretrain.ipynb', tmp_path, scale='tiny', epochs=2, data_dir=str(root), train_split='samples',
                  test_split='samples', out_dir=str(out), ckpt_dir=str(tmp_path/'ckpt'))
    m = json.loads((out/'pretrain_tiny_metrics.json').read_text())
    assert not m['data_is_synthetic'] and str(root) in m['data'], m['data']
    assert m['splits'] == ['samples', 'samples'], m['splits']
    means = m['input_band_means']                 # normalised with the authors' DN statistics: sane z-scores
    assert sorted(means) == [f'L8_B{i}' for i in range(1, 8)], means
    assert all(abs(v) < 1.5 for v in means.values()), means
