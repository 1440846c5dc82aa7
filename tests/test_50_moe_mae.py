"MoE-MAE experiments 50_moe_mae_pretrain and 51_moe_mae_probe at scale='tiny' through papermill: outputs, -p values, the runner (run keys, reuse, staging, strict parameters, warnings), falling loss, paper numbers beside ours."
import json
import pandas as pd
import pytest, torch
from conftest import run_papermill, papermill_error, files

POOLS = ('cls', 'flat', 'mean')   # the contract's poolings = the paper's CLS token, all tokens, all tokens (Avg.)

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('moe_mae')
    out, ck = tmp/'figs', tmp/'ckpt'
    run_papermill('50_moe_mae_pretrain.ipynb', tmp, scale='tiny', epochs=12, seed=2, out_dir=str(out), ckpt_dir=str(ck))
    m50 = json.loads((out/'pretrain_tiny_metrics.json').read_text())
    run_papermill('51_moe_mae_probe.ipynb', tmp, scale='tiny', seed=2, epochs=12, max_iter=300, out_dir=str(out), ckpt_dir=str(ck))
    return out, ck, m50

def test_pretrain_outputs_parameters_and_loss(runs):
    out, ck, m = runs
    assert (m['epochs'], m['seed']) == (12, 2)                 # the -p values, not the defaults (30 epochs, seed 0)
    assert m['data_is_synthetic'] and 'not BigEarthNet-Landsat' in m['data']
    assert m['last_epoch']['masked'] < 0.8 * m['first_epoch']['masked'], (m['first_epoch'], m['last_epoch'])
    assert m['last_epoch']['total'] < m['first_epoch']['total'], (m['first_epoch'], m['last_epoch'])
    assert m['warnings'] == [], m['warnings']
    for f in ('pretrain_tiny_loss.png', 'pretrain_tiny_reconstructions.png', 'pretrain_tiny_curves.csv',
              'pretrain_tiny_summary.csv', 'pretrain_tiny_summary.md', 'manifest_50_moe_mae_pretrain_tiny.json'):
        assert (out/f).stat().st_size > 100, f
    curves = pd.read_csv(out/'pretrain_tiny_curves.csv')
    assert len(curves) == 12 and {'masked', 'visible', 'moe', 'lr', 'total'} <= set(curves.columns), curves.columns
    md = (out/'pretrain_tiny_summary.md').read_text()
    assert 'Scale: tiny' in md and 'not BigEarthNet-Landsat' in md and '2,500,000' in md   # the paper's count beside ours
    rk = m['run_keys']['pretrain']
    assert rk['state'] == 'new' and f"pretrain-{rk['key']}" in md
    state = torch.load(rk['checkpoint'], weights_only=False)
    assert rk['checkpoint'].startswith(str(ck)) and state['epoch'] == 11
    assert len(state['history']['parts']['masked']) == m['steps']   # loss terms kept in the checkpoint
    assert state['meta']['model_class'] == 'MoEMAE'                  # the contract's checkpoint meta

def test_probe_loads_checkpoint_and_writes_tables(runs):
    out, ck, m50 = runs
    m = json.loads((out/'probe_tiny_metrics.json').read_text())
    assert m['trained_here'] is False and m['seed'] == 2 and m['max_iter'] == 300 and m['standardize'] is False
    assert m['checkpoint'] == m50['run_keys']['pretrain']['checkpoint']               # the run of 50, found by its key
    assert m['run_keys']['pretrain']['key'] == m50['run_keys']['pretrain']['key']
    assert m['run_keys']['pretrain']['state'] == '50_moe_mae_pretrain: finished'      # reused, not trained again
    for f in ('fig4_tiny_feature_geometry.png', 'fig5_tiny_contribution_ablation.png', 'table9_tiny_sparsity_paper_preset.csv',
              'table9_tiny_totals.md', 'table9_tiny_run_model.md', 'fig5_tiny_expert_specialisation.md', 'manifest_51_moe_mae_probe_tiny.json'):
        assert (out/f).stat().st_size > 100, f
    t5, t6 = pd.read_csv(out/'table5_tiny_benls_probe.csv'), pd.read_csv(out/'table6_tiny_eurosatls_probe.csv')
    assert t5.embedding.tolist() == ['CLS token', 'All tokens', 'All tokens (Avg.)']
    assert t5.micro_map_paper.tolist() == [0.748, 0.767, 0.731] and t6.oa_percent_paper.tolist() == [78.4, 84.2, 74.3]
    assert t5.micro_map_ours.between(0, 1).all() and t6.oa_percent_ours.between(0, 100).all()
    assert t6.oa_percent_ours.tolist() == [round(m['table6'][h]['oa_percent'], 1) for h in POOLS]
    for f in ('table5_tiny_benls_probe.md', 'table6_tiny_eurosatls_probe.md'):
        md = (out/f).read_text()
        assert 'Scale: tiny' in md and 'synthetic' in md and "the paper's" in md and 'unscaled' in md, md[:300]
    assert 'not EuroSAT-Landsat' in (out/'table6_tiny_eurosatls_probe.md').read_text()
    t9 = pd.read_csv(out/'table9_tiny_sparsity_paper_preset.csv')
    assert t9.unique_k_with_bias.tolist() == t9.unique_k_paper.tolist()     # Table 9 reproduced by the paper preset
    assert abs(sum(m['utilization'][0]) - 1) < 1e-5

def test_pretrain_same_command_reuses_the_run(runs, tmp_path):
    "The same command again: the finished run of the same key is reused (nothing trained), outputs say so."
    out, ck, m = runs
    o2 = tmp_path/'figs'
    run_papermill('50_moe_mae_pretrain.ipynb', tmp_path, scale='tiny', epochs=12, seed=2, out_dir=str(o2), ckpt_dir=str(ck))
    m2 = json.loads((o2/'pretrain_tiny_metrics.json').read_text())
    assert m2['run_keys']['pretrain']['key'] == m['run_keys']['pretrain']['key'] and m2['run_keys']['pretrain']['state'] == 'finished'
    assert m2['train_seconds'] < 5, m2['train_seconds']

def test_probe_pretrains_when_checkpoint_missing(tmp_path):
    "Without a finished run, 51 runs 50 with the same scale, seed and checkpoint folder, then probes that model."
    out, ck = tmp_path/'figs', tmp_path/'ckpt'
    run_papermill('51_moe_mae_probe.ipynb', tmp_path, scale='tiny', epochs=3, max_iter=100, out_dir=str(out), ckpt_dir=str(ck))
    m = json.loads((out/'probe_tiny_metrics.json').read_text())
    assert m['trained_here'] is True and 'pretrained 3 epochs' in m['pretrain'], m['pretrain']
    assert m['run_keys']['pretrain']['state'] == '50_moe_mae_pretrain: new'
    up = ck/'upstream'/'50_moe_mae_pretrain_tiny_seed0'/'outputs'
    assert (up/'pretrain_tiny_metrics.json').exists()          # 50's outputs stay beside the checkpoints, not in out_dir
    assert torch.load(m['checkpoint'], weights_only=False)['epoch'] == 2
    assert (out/'table5_tiny_benls_probe.csv').exists() and not (out/'pretrain_tiny_metrics.json').exists()

def test_bad_parameters_stop_before_writing(tmp_path):
    "A misspelt parameter or a bad value stops the run with a clear message, and nothing is written to out_dir."
    out = tmp_path/'figs'
    err = papermill_error('51_moe_mae_probe.ipynb', tmp_path, datadir='/x', out_dir=str(out), ckpt_dir=str(tmp_path/'ck'))
    assert 'ParameterError' in err and "'data_dir'" in err, err
    err = papermill_error('51_moe_mae_probe.ipynb', tmp_path, scale='tiny', eurosat_dir=str(tmp_path/'none'), out_dir=str(out),
                          ckpt_dir=str(tmp_path/'ck'))
    assert 'ParameterError' in err and 'eurosat_dir' in err, err
    err = papermill_error('50_moe_mae_pretrain.ipynb', tmp_path, scale='huge', out_dir=str(out), ckpt_dir=str(tmp_path/'ck'))
    assert 'ParameterError' in err and "'huge'" in err, err
    assert files(out) == [] and files(tmp_path/'ck') == []

def test_one_epoch_succeeds_with_a_warning(tmp_path):
    "-p epochs 1 (the natural smoke test) finishes; the loss check is a warning in the metrics and manifest, not an error."
    out = tmp_path/'figs'
    run_papermill('50_moe_mae_pretrain.ipynb', tmp_path, scale='tiny', epochs=1, n_samples=64, out_dir=str(out), ckpt_dir=str(tmp_path/'ck'))
    m = json.loads((out/'pretrain_tiny_metrics.json').read_text())
    man = json.loads((out/'manifest_50_moe_mae_pretrain_tiny.json').read_text())
    assert m['epochs'] == 1 and m['warnings'] == man['warnings'], (m['warnings'], man['warnings'])
    assert len(m['warnings']) == 1 and 'did not lower the loss' in m['warnings'][0], m['warnings']

def _benls_samples():
    from eo_moe_nb.core import shared_data_dir
    sd = shared_data_dir()
    root = sd/'bigearthnet_landsat_samples' if sd else None
    if root is None or not (root/'bigearthnet-samples.csv').exists(): pytest.skip('no BEN-LS samples in ../shared/data')
    return root

def test_pretrain_on_real_benls_samples(tmp_path):
    "50 on the 100 real BigEarthNet-Landsat patches of ../shared/data (published layout, via `open_dataset`); skipped when absent."
    root = _benls_samples()
    out = tmp_path/'figs'
    run_papermill('50_moe_mae_pretrain.ipynb', tmp_path, scale='tiny', epochs=2, data_dir=str(root), train_split='samples',
                  test_split='samples', out_dir=str(out), ckpt_dir=str(tmp_path/'ckpt'))
    m = json.loads((out/'pretrain_tiny_metrics.json').read_text())
    assert not m['data_is_synthetic'] and str(root) in m['data'], m['data']
    assert m['splits'] == ['samples', 'samples'], m['splits']
    means = m['input_band_means']                 # normalised with the authors' DN statistics: sane z-scores
    assert sorted(means) == [f'L8_B{i}' for i in range(1, 8)], means
    assert all(abs(v) < 1.5 for v in means.values()), means

def test_probe_on_real_benls_samples(tmp_path):
    "51 end to end on the real BEN-LS samples (train and score on the one `samples` split: a pipeline check), tiny cost."
    root = _benls_samples()
    out = tmp_path/'figs'
    run_papermill('51_moe_mae_probe.ipynb', tmp_path, scale='tiny', epochs=2, max_iter=50, n_per_class=6, n_maps=2,
                  data_dir=str(root), train_split='samples', test_split='samples', out_dir=str(out), ckpt_dir=str(tmp_path/'ckpt'))
    m = json.loads((out/'probe_tiny_metrics.json').read_text())
    assert str(root) in m['benls_data'] and m['splits'] == dict(train='samples', test='samples'), (m['benls_data'], m['splits'])
    assert m['n']['ben_train'] == m['n']['ben_test'] == 99, m['n']        # 100 patches, the all-zero fill patch skipped
    means = m['input_band_means']['benls']
    assert sorted(means) == [f'L8_B{i}' for i in range(1, 8)] and all(abs(v) < 1.5 for v in means.values()), means
    assert all(0 <= m['table5'][h]['micro_map'] <= 1 for h in POOLS), m['table5']
    assert str(root) in m['run_keys']['pretrain']['parts']['data']['path']   # 50 pretrained on the same real data
