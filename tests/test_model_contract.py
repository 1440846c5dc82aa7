"""The model contract of nbs/09b_models.contract.ipynb, checked on every model family at its tiny preset.

Each model notebook runs `check_contract` on itself; this file runs it once more on the four presets side by side, so
that one failing model shows up by name in the suite's summary."""
import pytest, torch
from eo_moe_nb.core import get_config
from eo_moe_nb.models.contract import check_contract

def _mapex():
    from eo_moe_nb.models.mapex import MAPEX
    cfg = get_config('mapex', 'tiny'); m = MAPEX(cfg)
    c = sum(b - a for a, b in m.channels().values())
    return m, (torch.randn(2, c, cfg.img_size, cfg.img_size),), None

def _csmoe(name):
    from eo_moe_nb.models.csmoe import CSMoE
    cfg = get_config(name, 'tiny'); m = CSMoE(cfg); s = cfg.img_size
    s2, s1 = torch.randn(2, cfg.s2_chans, s, s), torch.randn(2, cfg.s1_chans, s, s)
    return m, (s2, s1), (s2,)

def _moe_mae():
    from eo_moe_nb.models.moe_mae import MoEMAE
    cfg = get_config('moe_mae', 'tiny', eval_noise=False); m = MoEMAE(cfg); s = cfg.img_size
    return m, (torch.randn(2, cfg.in_chans, s, s), torch.rand(2, 2 * cfg.n_meta) * 2 - 1), None

MODELS = dict(mapex=_mapex, csmoe=lambda: _csmoe('csmoe'), csmae=lambda: _csmoe('csmae'), moe_mae=_moe_mae)

@pytest.mark.parametrize('name', list(MODELS))
def test_contract(name):
    torch.manual_seed(0)
    model, inputs, feature_inputs = MODELS[name]()
    r = check_contract(model, inputs, feature_inputs)
    assert r['tokens'][0] == 2, r
    assert set(r['parts']) == set(model.loss_weights), r
