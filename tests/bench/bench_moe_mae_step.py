"""CPU training step of MoE-MAE's `paper` preset over that of its dense twin, measured interleaved in one run.

The dense twin is the same model (same attention, embeddings, decoder, loss, optimizer) with every MoE layer replaced
by one dense SwiGLU FFN, silu(x W + b) * (x V + c) W2 + d, of the experts' width F_l (the width a token's
gated sum runs through: with V and W2 shared, a token's active FFN is V, W2 and its K gates of width F_l); when the
preset has expert dropout the twin drops its FFN output alike. One step = forward (masked, the preset's ratio), the
full loss, backward, AdamW step. The two models alternate step by step, so a loaded machine slows both alike; the
ratio is the median of the per-round ratios.

    python tests/bench/bench_moe_mae_step.py --label today     # prints the ratio, writes paper_figures/moe_mae/bench_step_<label>.json
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

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--label', default='current'); ap.add_argument('--bs', type=int, default=64)
    ap.add_argument('--rounds', type=int, default=30); ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--threads', type=int, default=1); ap.add_argument('--table', action='store_true')
    ap.add_argument('--cfg', default='', help="overrides of the preset, e.g. 'expert_dropout=0.'")
    ap.add_argument('--rev', default=None, help='revision measured, when the package is not in a git checkout')
    a = ap.parse_args()
    if a.table: return write_table()
    torch.set_num_threads(a.threads)
    from eo_moe_nb.core import get_config, set_seed
    from eo_moe_nb.models.moe_mae import MoEMAE
    import eo_moe_nb
    over = {k: eval(v) for k, v in (kv.split('=', 1) for kv in a.cfg.split(',') if kv)}
    cfg = get_config('moe_mae', 'paper', **over)
    set_seed(0)
    moe = MoEMAE(cfg).train()
    set_seed(0)
    dense = dense_twin(MoEMAE(cfg)).train()
    img, meta = torch.randn(a.bs, cfg.in_chans, cfg.img_size, cfg.img_size), torch.rand(a.bs, 8) * 2 - 1
    opts = {m: torch.optim.AdamW(m.parameters(), lr=1e-4) for m in (moe, dense)}
    def step(m):
        t = time.perf_counter()
        loss = m(img, meta)[0]
        opts[m].zero_grad(); loss.backward(); opts[m].step()
        return time.perf_counter() - t
    for _ in range(a.warmup): step(moe); step(dense)
    tm, td = [], []
    for r in range(a.rounds):
        pair = (moe, dense) if r % 2 == 0 else (dense, moe)   # alternate which goes first
        for m in pair: (tm if m is moe else td).append(step(m))
    ratios = [x / y for x, y in zip(tm, td)]
    n = lambda m: sum(p.numel() for p in m.parameters())
    rev = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True,
                         cwd=Path(eo_moe_nb.__file__).parent).stdout.strip() or 'unknown'
    rev = a.rev or rev
    res = dict(label=a.label, overrides=a.cfg, package=str(Path(eo_moe_nb.__file__).parent), git_rev=rev, batch=a.bs, rounds=a.rounds,
               threads=a.threads, machine=f'{platform.machine()}, {os.cpu_count()} cores, shared with other jobs',
               torch=torch.__version__, params_moe=n(moe), params_dense=n(dense),
               moe_ms=1e3 * statistics.median(tm), dense_ms=1e3 * statistics.median(td),
               ratio_median=statistics.median(ratios), ratio_q1=statistics.quantiles(ratios, n=4)[0],
               ratio_q3=statistics.quantiles(ratios, n=4)[2])
    print(json.dumps(res, indent=1))
    print(f"{a.label}: MoE step {res['moe_ms']:.1f} ms, dense twin {res['dense_ms']:.1f} ms, "
          f"ratio {res['ratio_median']:.3f} (IQR {res['ratio_q1']:.3f}-{res['ratio_q3']:.3f})")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT/f'bench_step_{a.label}.json').write_text(json.dumps(res, indent=1))
    write_table()

def write_table():
    rows = [json.loads(p.read_text()) for p in sorted(OUT.glob('bench_step_*.json'))]
    lines = ['# MoE-MAE `paper` preset: CPU training step over its dense twin', '',
             'Each row is one run of `tests/bench/bench_moe_mae_step.py`: MoE and dense-twin steps interleaved, ratio = '
             'median of per-round ratios (IQR beside it). The machine was shared with other jobs; only the ratio is '
             'meant to be compared across rows.', '',
             '| label | git rev | preset overrides | batch | threads | params MoE | params dense | MoE ms | dense ms | ratio (IQR) |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        lines.append(f"| {r['label']} | {r['git_rev']} | {r.get('overrides') or '-'} | {r['batch']} | {r['threads']} | {r['params_moe']:,} | {r['params_dense']:,} | "
                     f"{r['moe_ms']:.1f} | {r['dense_ms']:.1f} | {r['ratio_median']:.3f} ({r['ratio_q1']:.3f}-{r['ratio_q3']:.3f}) |")
    (OUT/'bench_step.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))

if __name__ == '__main__': main()
