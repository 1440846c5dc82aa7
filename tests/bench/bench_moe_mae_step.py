"""CPU training step of MoE-MAE's `paper` preset over that of its dense twin, measured interleaved in one run.

The dense twin is the same model (same attention, embeddings, decoder, loss, optimizer) with every MoE layer replaced
by one dense SwiGLU FFN, silu(x W + b) * (x V + c) W2 + d, of the experts' width F_l (the width a token's
gated sum runs through: with V and W2 shared, a token's active FFN is V, W2 and its K gates of width F_l); when the
preset has expert dropout the twin drops its FFN output alike. One step = forward (masked, the preset's ratio), the
full loss, backward, AdamW step. The two models alternate step by step, so a loaded machine slows both alike; the
ratio is the median of the per-round ratios.

    python tests/bench/bench_moe_mae_step.py --label today     # prints the ratio, writes paper_figures/moe_mae/bench_step_<label>.json
    python tests/bench/bench_moe_mae_step.py --label g --variants moe,moe_bernoulli,moe_nodrop,dense,dense_nodrop
    python tests/bench/bench_moe_mae_step.py --table            # paper_figures/moe_mae/bench_step.md from all JSONs

Works on any revision of the package that has `MoEMAE` and the `paper` preset (run it with PYTHONPATH set to a copy
of an older revision to measure that revision)."""
import argparse, json, os, platform, statistics, subprocess, time
from pathlib import Path
import torch, torch.nn as nn, torch.nn.functional as F

OUT = Path(__file__).resolve().parents[2]/'paper_figures'/'moe_mae'

class DenseSwiGLU(nn.Module):
    "One dense SwiGLU FFN with biases (the twin's feed-forward layer); drop-in for an MoE layer in `vit.Block`."
    def __init__(self, dim, hidden, p=0.):
        super().__init__()
        self.w, self.v, self.w2, self.drop = nn.Linear(dim, hidden), nn.Linear(dim, hidden), nn.Linear(hidden, dim), nn.Dropout(p)
        self.aux_loss = torch.zeros(())
    def forward(self, x, **kw): return self.drop(self.w2(F.silu(self.w(x)) * self.v(x)))

def dense_twin(model):
    "Replace every MoE feed-forward layer of `model` (encoder and decoder) by a `DenseSwiGLU` of the experts' width."
    p = getattr(model.cfg, 'expert_dropout', 0.)
    for blk in list(model.encoder.blocks) + list(model.decoder_blocks):
        ex = blk.mlp.experts
        blk.mlp = DenseSwiGLU(ex.dim, ex.hidden_dim, p)
    model.aux_layers = [b.mlp for b in model.encoder.blocks]
    return model

VARIANTS = ('moe', 'moe_bernoulli', 'moe_nodrop', 'dense', 'dense_nodrop')
RATIOS = dict(ratio=('moe', 'dense'), ratio_bernoulli=('moe_bernoulli', 'dense'), ratio_nodrop=('moe_nodrop', 'dense_nodrop'))

def bernoulli_keep(n, d, p, device=None):
    "The dropout mask as the previous revision drew it (float `bernoulli_`), to measure the mask's cost in the same run."
    return torch.empty(n, d, device=device).bernoulli_(1 - p)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--label', default='current'); ap.add_argument('--bs', type=int, default=64)
    ap.add_argument('--rounds', type=int, default=30); ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--threads', type=int, default=1); ap.add_argument('--table', action='store_true')
    ap.add_argument('--cfg', default='', help="overrides of the preset, e.g. 'expert_dropout=0.'")
    ap.add_argument('--variants', default='moe,dense', help=f"comma-separated, of {VARIANTS}; all measured interleaved in one run")
    ap.add_argument('--rev', default=None, help='revision measured, when the package is not in a git checkout')
    a = ap.parse_args()
    if a.table: return write_table()
    torch.set_num_threads(a.threads)
    from eo_moe_nb.core import get_config, set_seed
    import eo_moe_nb.models.moe_mae as mm
    import eo_moe_nb
    over = {k: eval(v) for k, v in (kv.split('=', 1) for kv in a.cfg.split(',') if kv)}
    names = [v for v in a.variants.split(',') if v]
    bad = [v for v in names if v not in VARIANTS]
    if bad: raise SystemExit(f"unknown variant(s) {bad}; choose from {VARIANTS}")
    cfg = get_config('moe_mae', 'paper', **over)
    def build(name):
        c = get_config('moe_mae', 'paper', **dict(over, expert_dropout=0.)) if name.endswith('nodrop') else cfg
        set_seed(0)   # the same weights in every variant
        m = mm.MoEMAE(c)
        return (dense_twin(m) if name.startswith('dense') else m).train()
    models = {v: build(v) for v in names}
    img, meta = torch.randn(a.bs, cfg.in_chans, cfg.img_size, cfg.img_size), torch.rand(a.bs, 8) * 2 - 1
    opts = {v: torch.optim.AdamW(m.parameters(), lr=1e-4) for v, m in models.items()}
    keep_fn = getattr(mm, 'expert_dropout_keep', None)
    def step(v):
        m = models[v]
        if keep_fn is not None: mm.expert_dropout_keep = bernoulli_keep if v == 'moe_bernoulli' else keep_fn
        t = time.perf_counter()
        loss = m(img, meta)[0]
        opts[v].zero_grad(); loss.backward(); opts[v].step()
        return time.perf_counter() - t
    def flops(v):
        "Matmul FLOPs of one training step (forward + backward), torch's FlopCounterMode."
        from torch.utils.flop_counter import FlopCounterMode
        m = models[v]
        with FlopCounterMode(display=False) as fc: m(img, meta)[0].backward()
        m.zero_grad(); return fc.get_total_flops()
    gflops = {v: flops(v) / 1e9 for v in names}
    for _ in range(a.warmup):
        for v in names: step(v)
    times = {v: [] for v in names}
    for r in range(a.rounds):
        order = names[r % len(names):] + names[:r % len(names)]   # rotate which goes first
        for v in order: times[v].append(step(v))
    n = lambda m: sum(p.numel() for p in m.parameters())
    rev = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True,
                         cwd=Path(eo_moe_nb.__file__).parent).stdout.strip() or 'unknown'
    rev = a.rev or rev
    res = dict(label=a.label, overrides=a.cfg, package=str(Path(eo_moe_nb.__file__).parent), git_rev=rev, batch=a.bs, rounds=a.rounds,
               threads=a.threads, machine=f'{platform.machine()}, {os.cpu_count()} cores, shared with other jobs',
               torch=torch.__version__, variants=names,
               ms={v: 1e3 * statistics.median(t) for v, t in times.items()},
               ms_q1={v: 1e3 * statistics.quantiles(t, n=4)[0] for v, t in times.items()},
               ms_q3={v: 1e3 * statistics.quantiles(t, n=4)[2] for v, t in times.items()}, gflops=gflops)
    if 'moe' in models: res['params_moe'] = n(models['moe'])
    if 'dense' in models: res['params_dense'] = n(models['dense'])
    for key, (x, y) in RATIOS.items():
        if x in times and y in times:
            rs = [p / q for p, q in zip(times[x], times[y])]
            res[key] = dict(of=f'{x} / {y}', median=statistics.median(rs), q1=statistics.quantiles(rs, n=4)[0], q3=statistics.quantiles(rs, n=4)[2],
                            flops=gflops[x] / gflops[y])
    if 'ratio' in res:   # the columns of the older rows
        res.update(moe_ms=res['ms']['moe'], dense_ms=res['ms']['dense'], ratio_median=res['ratio']['median'],
                   ratio_q1=res['ratio']['q1'], ratio_q3=res['ratio']['q3'])
    print(json.dumps(res, indent=1))
    for key in RATIOS:
        if key in res: print(f"{a.label}: {res[key]['of']} = {res[key]['median']:.3f} (IQR {res[key]['q1']:.3f}-{res[key]['q3']:.3f})")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT/f'bench_step_{a.label}.json').write_text(json.dumps(res, indent=1))
    write_table()

def _others(r):
    "The run's other ratios and step times (the variants measured beside the preset and its twin)."
    out = [f"{r[k]['of']} {r[k]['median']:.3f} ({r[k]['q1']:.3f}-{r[k]['q3']:.3f})" for k in ('ratio_bernoulli', 'ratio_nodrop') if k in r]
    out += [f"FLOPs {r[k]['of']} {r[k]['flops']:.3f}" for k in RATIOS if k in r and 'flops' in r[k]]
    out += [f"{v} {ms:.0f} ms" for v, ms in r.get('ms', {}).items() if v not in ('moe', 'dense')]
    return '; '.join(out) or '-'

def write_table():
    rows = [json.loads(p.read_text()) for p in sorted(OUT.glob('bench_step_*.json'))]
    lines = ['# MoE-MAE `paper` preset: CPU training step over its dense twin', '',
             'Each row is one run of `tests/bench/bench_moe_mae_step.py`: MoE and dense-twin steps interleaved, ratio = '
             'median of per-round ratios (IQR beside it). The machine was shared with other jobs; only the ratio is '
             'meant to be compared across rows.', '',
             '| label | git rev | preset overrides | batch | threads | params MoE | params dense | MoE ms | dense ms | ratio (IQR) | other ratios, same run |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        lines.append(f"| {r['label']} | {r['git_rev']} | {r.get('overrides') or '-'} | {r['batch']} | {r['threads']} | {r['params_moe']:,} | {r['params_dense']:,} | "
                     f"{r['moe_ms']:.1f} | {r['dense_ms']:.1f} | {r['ratio_median']:.3f} ({r['ratio_q1']:.3f}-{r['ratio_q3']:.3f}) | {_others(r)} |")
    (OUT/'bench_step.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))

if __name__ == '__main__': main()
