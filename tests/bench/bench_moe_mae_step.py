"""CPU training step of MoE-MAE's `paper` preset over that of its dense twin, measured interleaved in one run.

The dense twin is the same model (same attention, embeddings, decoder, loss, optimizer) with every MoE layer replaced
by one dense SwiGLU FFN, silu(x W + b) * (x V + c) W2 + d, of the experts' width F_l (the width a token's
gated sum runs through: with V and W2 shared, a token's active FFN is V, W2 and its K gates of width F_l); when the
preset has expert dropout the twin drops its FFN output alike. One step = forward (masked, the preset's ratio), the
full loss, backward, AdamW step. The two models alternate step by step, so a loaded machine slows both alike; the
ratio is the median of the per-round ratios.

    python tests/bench/bench_moe_mae_step.py --label today     # prints the ratio, writes paper_figures/moe_mae/bench_step_<label>.json
    python tests/bench/bench_moe_mae_step.py --label i --variants moe,moe_bernoulli,moe_nodrop,dense,dense_nodrop,before,before_dense
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

VARIANTS = ('moe', 'moe_bernoulli', 'moe_nodrop', 'dense', 'dense_nodrop', 'before', 'before_dense')
RATIOS = dict(ratio=('moe', 'dense'), ratio_bernoulli=('moe_bernoulli', 'dense'), ratio_nodrop=('moe_nodrop', 'dense_nodrop'),
              ratio_before=('before', 'before_dense'))

def package_rev(pkg:Path)->str:
    "The package's git revision, with `*` when its tree has uncommitted changes ('unknown' outside a checkout)."
    git = lambda *c: subprocess.run(['git', *c], capture_output=True, text=True, cwd=pkg).stdout.strip()
    rev = git('rev-parse', '--short', 'HEAD')
    return (rev + ('*' if git('status', '--porcelain', '--', '.') else '')) if rev else 'unknown'

def before_package(rev:str):
    "The package at git revision `rev`, extracted under the name `eo_moe_nb_before` (its modules import each other relatively)."
    import importlib, sys, tarfile, tempfile, io
    d = Path(tempfile.mkdtemp(prefix='bench_before_'))
    tar = subprocess.run(['git', 'archive', rev, 'eo_moe_nb'], capture_output=True, check=True, cwd=OUT.parents[1]).stdout
    tarfile.open(fileobj=io.BytesIO(tar)).extractall(d)
    (d/'eo_moe_nb').rename(d/'eo_moe_nb_before'); sys.path.insert(0, str(d))
    return importlib.import_module('eo_moe_nb_before.models.moe_mae'), importlib.import_module('eo_moe_nb_before.core')

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
    ap.add_argument('--before-rev', default='1b3fd40', help="revision of the 'before' variants (the package as it was), measured in the same run")
    a = ap.parse_args()
    if a.table: return write_table()
    torch.set_num_threads(a.threads)
    from eo_moe_nb.core import get_config, set_seed
    import eo_moe_nb.models.moe_mae as mm
    import eo_moe_nb
    rev = a.rev or package_rev(Path(eo_moe_nb.__file__).parent)   # read before measuring: the tree may change during a run
    over = {k: eval(v) for k, v in (kv.split('=', 1) for kv in a.cfg.split(',') if kv)}
    names = [v for v in a.variants.split(',') if v]
    bad = [v for v in names if v not in VARIANTS]
    if bad: raise SystemExit(f"unknown variant(s) {bad}; choose from {VARIANTS}")
    cfg = get_config('moe_mae', 'paper', **over)
    if any(v.startswith('before') for v in names): bm, bcore = before_package(a.before_rev)
    def build(name):
        set_seed(0)   # the same weights in every variant
        if name.startswith('before'):
            m = bm.MoEMAE(bcore.get_config('moe_mae', 'paper'))
            return (dense_twin(m) if name == 'before_dense' else m).train()
        c = get_config('moe_mae', 'paper', **dict(over, expert_dropout=0.)) if name.endswith('nodrop') else cfg
        set_seed(0)
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
    res = dict(label=a.label, overrides=a.cfg, package=str(Path(eo_moe_nb.__file__).parent), git_rev=rev, batch=a.bs, rounds=a.rounds,
               threads=a.threads, machine=f'{platform.machine()}, {os.cpu_count()} cores, shared with other jobs',
               torch=torch.__version__, variants=names,
               ms={v: 1e3 * statistics.median(t) for v, t in times.items()},
               ms_q1={v: 1e3 * statistics.quantiles(t, n=4)[0] for v, t in times.items()},
               ms_q3={v: 1e3 * statistics.quantiles(t, n=4)[2] for v, t in times.items()}, gflops=gflops)
    if 'moe' in models: res['params_moe'] = n(models['moe'])
    if 'dense' in models: res['params_dense'] = n(models['dense'])
    if 'before' in models: res.update(before_rev=a.before_rev, params_before=n(models['before']))
    for key, (x, y) in RATIOS.items():
        if x in times and y in times:
            rs = [p / q for p, q in zip(times[x], times[y])]
            res[key] = dict(of=f'{x} / {y}', median=statistics.median(rs), q1=statistics.quantiles(rs, n=4)[0], q3=statistics.quantiles(rs, n=4)[2],
                            flops=gflops[x] / gflops[y], of_min=min(times[x]) / min(times[y]))   # min: the least-contended steps
    if 'ratio' in res:   # the columns of the older rows
        res.update(moe_ms=res['ms']['moe'], dense_ms=res['ms']['dense'], ratio_median=res['ratio']['median'],
                   ratio_q1=res['ratio']['q1'], ratio_q3=res['ratio']['q3'])
    print(json.dumps(res, indent=1))
    for key in RATIOS:
        if key in res: print(f"{a.label}: {res[key]['of']} = {res[key]['median']:.3f} (IQR {res[key]['q1']:.3f}-{res[key]['q3']:.3f}; "
                             f"fastest steps {res[key]['of_min']:.3f}; FLOPs {res[key]['flops']:.3f})")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT/f'bench_step_{a.label}.json').write_text(json.dumps(res, indent=1))
    write_table()

def _others(r):
    "The run's other ratios and step times (the variants measured beside the preset and its twin)."
    out = [f"{r[k]['of']} {r[k]['median']:.3f} ({r[k]['q1']:.3f}-{r[k]['q3']:.3f})" for k in ('ratio_bernoulli', 'ratio_nodrop', 'ratio_before') if k in r]
    out += [f"fastest steps {r[k]['of']} {r[k]['of_min']:.3f}" for k in RATIOS if k in r and 'of_min' in r[k]]
    out += [f"FLOPs {r[k]['of']} {r[k]['flops']:.3f}" for k in RATIOS if k in r and 'flops' in r[k]]
    out += [f"{v} {ms:.0f} ms" for v, ms in r.get('ms', {}).items() if v not in ('moe', 'dense')]
    return '; '.join(out) or '-'

def _findings(rows):
    "What the runs with variants say, computed from their numbers (the goal: within 5% of the ratio before the change)."
    before = [r for r in rows if r['label'].startswith(('a_before', 'c_before', 'h_before'))]
    var = [r for r in rows if 'ratio_nodrop' in r and 'gflops' in r]
    if not var: return []
    r = var[-1]; g = r['gflops']
    out = ['', '## What the runs say', '',
           f"- Ratios before the change (the preset without biases, learned positions or expert dropout, and its twin): "
           + ', '.join(f"{b['label']} {b['ratio_median']:.3f}" for b in before)
           + f"; the goal, 5% above the first, is {1.05 * before[0]['ratio_median']:.3f}." if before else '',
           f"- Run `{r['label']}` ({r['rounds']} interleaved rounds, medians with IQR): preset / twin {r['ratio']['median']:.3f} "
           f"({r['ratio']['q1']:.3f}-{r['ratio']['q3']:.3f}), fastest steps {r['ratio']['of_min']:.3f}; with the previous float "
           f"`bernoulli_` mask {r['ratio_bernoulli']['median']:.3f} (fastest {r['ratio_bernoulli']['of_min']:.3f}); with "
           f"`expert_dropout=0` (twin without dropout) {r['ratio_nodrop']['median']:.3f} (fastest {r['ratio_nodrop']['of_min']:.3f}).",
           f"- Matmul FLOPs of one step (forward + backward, batch {r['batch']}): preset {g['moe']:.2f} G, without expert dropout "
           f"{g['moe_nodrop']:.2f} G, twin {g['dense']:.2f} G. The authors' dropout on each expert's output cannot pass through the "
           f"shared W2, so W2 runs on the N K token-expert rows instead of the N tokens: {100 * (g['moe'] / g['moe_nodrop'] - 1):.1f}% "
           f"more FLOPs than the same model without it, and a FLOP ratio to the twin of {g['moe'] / g['dense']:.3f} against "
           f"{g['moe_nodrop'] / g['dense']:.3f}. The dropout mask costs no FLOPs but random numbers: the 31-bit integer mask "
           f"(`expert_dropout_keep`) replaces the float `bernoulli_` one.",
           (f"- In the same run, the package before the change (`{r.get('before_rev')}`): preset / twin {r['ratio_before']['median']:.3f} "
            f"({r['ratio_before']['q1']:.3f}-{r['ratio_before']['q3']:.3f}, fastest {r['ratio_before']['of_min']:.3f}); the preset now is "
            f"{100 * (r['ratio']['median'] / r['ratio_before']['median'] - 1):+.1f}% against it (goal: at most +5%), "
            f"{100 * (r['ratio_nodrop']['median'] / r['ratio_before']['median'] - 1):+.1f}% without the expert dropout."
            if 'ratio_before' in r else None),
           '- Hence: the exact per-expert dropout adds about that FLOP share to the preset\'s step; the twin, which drops its one '
           'FFN output alike, has no such term. Within 5% of the old ratio holds only without the per-expert dropout '
           '(`expert_dropout=0`), or with a dropout that is not the authors\' (after the W2 combine).']
    return [l for l in out if l is not None]

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
    lines += _findings(rows)
    (OUT/'bench_step.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))

if __name__ == '__main__': main()
