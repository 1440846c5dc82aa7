"MoE-MAE against its authors' model: the fixture of ../shared/data/moe_mae_official_fixture (authors' state_dict, inputs, outputs); skipped when absent."
import json
import pytest, torch
from conftest import run_papermill
from eo_moe_nb.core import shared_data_dir

FX = (shared_data_dir() / 'moe_mae_official_fixture') if shared_data_dir() is not None else None
pytestmark = pytest.mark.skipif(FX is None or not (FX/'official_state_dict.safetensors').exists(),
                                reason='moe_mae_official_fixture absent (../shared/data)')

def test_from_authors_computes_their_function():
    "Encoder tokens (pre- and post-LN), masked forward with their noise, predictions in their pixel order, balance losses: within 1e-5."
    from safetensors.torch import load_file
    from eo_moe_nb.models.moe_mae import from_authors, meta_features, authors_pixel_order
    io = load_file(str(FX/'inputs_outputs.safetensors'))
    m = from_authors(FX/'official_state_dict.safetensors', eval_noise=False)
    meta = meta_features(io['lat'], io['lon'], io['week'], io['hour'])
    with torch.no_grad():
        pre = m.forward_features(io['image'], meta, norm=False)
        enc_loss = sum(b.mlp.aux_loss for b in m.encoder.blocks).reshape(1)
        post = m.encoder(io['image'], meta)
        out = m.reconstruct(io['image'], meta, io['mask_noise'])
    pred, mask, ids = out['pred'], out['mask'], out['ids_restore']
    got = dict(encoder_tokens_pre_ln=pre, encoder_tokens_ln=post, encoder_moe_loss=enc_loss,
               pred=authors_pixel_order(pred, 4, 7), moe_loss=out['parts']['moe'].reshape(1))
    for k, v in got.items():
        assert v.shape == io[k].shape, k
        torch.testing.assert_close(v, io[k], atol=1e-5, rtol=0, msg=lambda s, k=k: f'{k}: {s}')
    assert torch.equal(mask, io['mask']) and torch.equal(ids, io['ids_restore'])
    cls = m.forward_features(io['image'], meta, pool='cls')          # the authors' CLS probe feature: pre-LN token 4
    assert cls.shape == (3, 144) and m.cls_index == 4
    torch.testing.assert_close(cls, io['encoder_tokens_pre_ln'][:, 4], atol=1e-5, rtol=0)

def test_probe_runs_on_authors_weights(tmp_path):
    "51 with -p checkpoint on the fixture's (random-init) authors' weights, synthetic data, tiny cost."
    out = tmp_path/'figs'
    run_papermill('51_moe_mae_probe.ipynb', tmp_path, checkpoint=str(FX/'official_state_dict.safetensors'), n_samples=40,
                  n_per_class=6, max_iter=50, n_maps=2, seed=1, out_dir=str(out), threads=1)
    m = json.loads((out/'probe_authors_metrics.json').read_text())
    assert m['authors_weights'] and m['scale'] == 'paper' and m['trained_here'] is False and m['seed'] == 1
    assert m['checkpoint'].endswith('official_state_dict.safetensors') and '2,537,562 parameters' in m['pretrain']
    assert "their hour parsing" in m['pretrain'] and 'not BigEarthNet-Landsat' in m['benls_data']
    for f in ('table5_authors_benls_probe.md', 'table6_authors_eurosatls_probe.md', 'fig4_authors_feature_geometry.png',
              'fig5_authors_contribution_ablation.png', 'table9_authors_sparsity_paper_preset.csv'):
        assert (out/f).stat().st_size > 100, f
    assert all(0 <= m['table6'][h]['oa_percent'] <= 100 for h in ('cls', 'flat', 'mean'))
    assert len(m['utilization']) == 15 and abs(sum(m['utilization'][0]) - 1) < 1e-5
