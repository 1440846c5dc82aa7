"""32_mapex_ablations at scale='tiny' through papermill: every variant is pretrained, every table and figure of MAPEX's
ablations is written with the paper's numbers beside ours and the scale stated, -p values are honoured (`-p epochs 1`), a
second run reuses the finished checkpoints, ben-ge as distributed is read through open_dataset and another dataset is
refused before anything is written."""
import json
import numpy as np
import pandas as pd
import pytest
from pathlib import Path
from conftest import run_papermill, papermill_error, files
from eo_moe_nb.data.synthetic_tasks import make_published_benge, make_synthetic_sen12flood

NB = '32_mapex_ablations.ipynb'
MODS = ['RGB', 'RedEdge', 'SWIR', 'NIR', 'SAR', 'ELE']

def test_ablations_tiny_writes_tables_and_figures(tmp_path):
    out, ck = tmp_path/'figs', tmp_path/'ckpt'
    run_papermill(NB, tmp_path, scale='tiny', epochs=1, knn_k=3, seed=1, out_dir=str(out), ckpt_dir=str(ck))
    m = json.loads((out/'ablations_tiny_metrics.json').read_text())
    assert (m['epochs'], m['seed']) == (1, 1)                                     # -p values, not the defaults (2, 0)
    rk = m['run_keys']
    assert (len(m['variants']), sorted(rk)) == (12, sorted(m['variants']))
    assert sorted(p.parent.name for p in ck.glob('*/last.pth')) == sorted(f"{v}-{r['key']}" for v, r in rk.items())
    assert {r['state'] for r in rk.values()} == {'new'} and rk['dropout_0']['parts']['model']['modality_dropout'] == 0.
    assert m['warnings'] == []
    for t in ('table5_modality_dropout', 'table6_shared_expert', 'table7_routing', 'table8_uni_multi',
              'fig4_expert_size', 'fig5_topk', 'fig6_specialization'):
        md = (out/f'ablations_tiny_{t}.md').read_text()
        for w in ('Scale: tiny', 'synthetic', 'k=3', f"base-{rk['base']['key']}"): assert w in md, (t, w)
        assert (out/f'ablations_tiny_{t}.csv').stat().st_size > 50, t
    sizes = {f: (out/f'ablations_tiny_{f}.png').stat().st_size for f in ('fig4_expert_size', 'fig5_topk', 'fig6_specialization')}
    assert {f: s > 5000 for f, s in sizes.items()} == {f: True for f in sizes}, sizes
    t5 = pd.read_csv(out/'ablations_tiny_table5_modality_dropout.csv').set_index('modality')
    assert t5.loc['RGB', ['drop0_paper', 'drop0.1_paper', 'drop0.5_paper']].tolist() == [65.8, 65.8, 67.2]
    assert t5.loc[MODS, 'drop0.5_ours'].tolist() == [round(m['knn_accuracy']['base'][k], 1) for k in MODS]   # ours: computed
    assert t5.loc[MODS, 'drop0_ours'].between(0, 100).tolist() == [True] * 6, t5.drop0_ours
    assert t5.loc[MODS, 'random_init_ours'].tolist() == [round(m['knn_accuracy_random_init'][k], 1) for k in MODS]
    t7 = pd.read_csv(out/'ablations_tiny_table7_routing.csv').set_index('modality')
    assert t7.loc['NIR', ['deterministic_paper', 'pos_embed_paper', 'modality_based_paper']].tolist() == [51.6, 55.9, 56.8]
    t8 = pd.read_csv(out/'ablations_tiny_table8_uni_multi.csv')
    assert t8.kNN_acc_RGB_paper.tolist() == [62.1, 63.2, 65.1] and t8.kNN_acc_RGB_ours.between(0, 100).tolist() == [True] * 3, t8
    f5 = pd.read_csv(out/'ablations_tiny_fig5_topk.csv', index_col=0)
    assert list(f5.index) == MODS and list(f5.columns) == [str(k) for k in range(1, 7)]
    f6 = pd.read_csv(out/'ablations_tiny_fig6_specialization.csv', index_col=0)
    assert f6.shape == (6, 6) and f6.values.min() >= 0 and f6.values.max() <= 100
    agree = (out/'ablations_tiny_agreement.md').read_text()
    assert [i for i in ('sanity', 'Table 5', 'Table 6', 'Table 7', 'Table 8', 'Fig. 4', 'Fig. 5', 'Fig. 6') if i not in agree] == []
    # the paper's side of each claim is computed from paper_figures/papers/mapex.json (Tables 5-7 means and counts, Table 6 sizes)
    claims = {a['item']: a['paper_claim'] for a in m['agreement']}
    assert (claims['Table 5'], claims['Table 6'], claims['Table 7']) == ('dropout 0.5 beats 0 and 0.1 on average (by 1.1 points)',
        'a shared expert helps most modalities (4 of 6) at +54% pruned parameters', 'modality-based routing is best (5 of 6 modalities; best mean)'), claims
    # verdicts follow the numbers: direction, and 'within noise' below one binomial standard error
    p = np.mean(list(m['knn_accuracy']['base'].values())) / 100
    assert abs(m['se_points'] - 100 * np.sqrt(p * (1 - p) / m['n_knn_eval'])) < 1e-9 and 'within noise' in agree
    mu = {v: np.mean(list(m['knn_accuracy'][v].values())) for v in ('base', 'dropout_0', 'dropout_0.1')}
    gap = mu['base'] - max(mu['dropout_0'], mu['dropout_0.1'])
    verdict = {a['item']: a['agrees'] for a in m['agreement']}['Table 5']
    assert verdict == ('yes' if gap > 0 else 'no') + (' (within noise)' if abs(gap) < m['se_points'] else ''), (verdict, gap)
    # a second run with a subset reuses the finished checkpoints (not rewritten) and gives the same numbers
    ck0 = Path(rk['dropout_0']['checkpoint']); mtime = ck0.stat().st_mtime_ns
    run_papermill(NB, tmp_path/'again', scale='tiny', epochs=1, knn_k=3, seed=1, variants='dropout_0',
                  out_dir=str(tmp_path/'figs2'), ckpt_dir=str(ck))
    m2 = json.loads((tmp_path/'figs2'/'ablations_tiny_metrics.json').read_text())
    assert m2['variants'] == ['base', 'dropout_0'] and m2['knn_accuracy']['dropout_0'] == m['knn_accuracy']['dropout_0']
    assert ck0.stat().st_mtime_ns == mtime
    assert {v: (r['key'], r['state']) for v, r in m2['run_keys'].items()} == {v: (rk[v]['key'], 'finished') for v in ('base', 'dropout_0')}

def test_ablations_refuse_unknown_variant(tmp_path):
    err = papermill_error(NB, tmp_path, scale='tiny', variants='base,mystrey,dropout_0', out_dir=str(tmp_path/'f'), ckpt_dir=str(tmp_path/'c'))
    assert "an item of variants='mystrey' is not one of ['base'," in err, err
    assert (files(tmp_path/'f'), files(tmp_path/'c')) == ([], [])

def test_ablations_refuse_another_dataset(tmp_path):
    fl = make_synthetic_sen12flood(tmp_path/'flood', n_sequences=1, steps=1).resolve()
    err = papermill_error(NB, tmp_path/'nb', scale='tiny', eval_dir=str(fl), out_dir=str(tmp_path/'f'), ckpt_dir=str(tmp_path/'c'))
    assert f"eval_dir='{fl}' holds a 'sen12flood-per-sequence' dataset, not ben-ge" in err, err
    assert (files(tmp_path/'f'), files(tmp_path/'c')) == ([], [])

def test_ablations_read_published_benge(tmp_path):
    "-p data_dir and -p eval_dir take ben-ge as distributed; one variant (base) runs every table and figure it enters."
    pre = make_published_benge(tmp_path/'ben-ge', n_samples=20, size=24, seed=5).resolve()
    ev = make_published_benge(tmp_path/'ben-ge-8k', n_samples=30, size=24, seed=6).resolve()
    out = tmp_path/'figs'
    run_papermill(NB, tmp_path/'nb', scale='tiny', epochs=1, variants='base', data_dir=str(pre), eval_dir=str(ev),
                  out_dir=str(out), ckpt_dir=str(tmp_path/'ckpt'))
    m = json.loads((out/'ablations_tiny_metrics.json').read_text())
    d = m['run_keys']['base']['parts']['data']
    assert (m['variants'], m['pretraining'], m['knn_data'], d['kind'], d['path']) == (['base'], f"ben-ge at {pre}", f"ben-ge-8k at {ev}", 'folder', str(pre))
    assert (m['n_knn_eval'], sorted(m['knn_accuracy'])) == (6, ['base'])           # 30 patches: 24 memory, 6 evaluated
    f6 = pd.read_csv(out/'ablations_tiny_fig6_specialization.csv', index_col=0)
    assert f6.shape == (6, 6) and f"ben-ge-8k at {ev}" in (out/'ablations_tiny_fig6_specialization.md').read_text(), f6
