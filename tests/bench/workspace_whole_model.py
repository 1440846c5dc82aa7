"""Whole-model training steps with and without 06_moe's `Workspace` and hand-written FFN backward (issue 14).

Measured once, on commit 1b3fd40 (the last one with `Workspace`); after its removal the `workspace` and
`no workspace` variants no longer exist and the script says so. Variants, interleaved step by step in one process
(robust to a shared machine), median seconds per step, ratio to `workspace`:

- `workspace`: `GroupedFFN`/`BatchedFFN` (hand-written backward) taking their blocks from `Workspace`;
- `no workspace`: the same Functions with a workspace that keeps nothing;
- `autograd`: the plain autograd code that replaced them (batched `baddbmm` experts; per-expert loop over
  `unbind`-ed weights on sorted rows).

One step = forward, backward, fastai Adam step and in-place `zero_grad` (what `mae_learner` does).

    OMP_NUM_THREADS=1 python tests/bench/workspace_whole_model.py --steps 5

Result (2026-12-01, commit 1b3fd40, torch 2.13.0 CPU, 1 thread, 2-core machine shared with other jobs, so the spread
within a variant is large; batch 8, 224 px, median of 5 interleaved steps after one warm-up step each):

| model | workspace | no workspace | autograd |
|---|---|---|---|
| MAPEX paper shape, encoder depth 2, decoder depth 2 | 17.97 s (1.00x) | 16.67 s (0.93x) | 16.17 s (0.90x) |
| CSMoE paper shape, 1 + 1 Soft MoE blocks, decoder depth 1 | 21.02 s (1.00x) | 24.03 s (1.14x) | 18.96 s (0.90x) |

`Workspace` shows no gain (the issue's bar was >= 5%), so it and the hand-written backward were removed: `autograd` is
what `06_moe` runs now.
"""
import argparse, statistics, time
import torch, torch.nn as nn, torch.nn.functional as F
from dataclasses import replace
from fastai.optimizer import Adam
from eo_moe_nb import moe
from eo_moe_nb.core import get_config, set_seed
from eo_moe_nb.data.bands import MAPEX_MODALITIES, modality_channels
from eo_moe_nb.models.mapex import MAPEX
from eo_moe_nb.models.csmoe import CSMoE

def autograd_batched(self, xe):
    h = self.act(torch.baddbmm(self.b1, xe, self.w1.transpose(1, 2)))
    return torch.baddbmm(self.b2, h, self.w2.transpose(1, 2))

def autograd_grouped(self, x, counts):
    return torch.cat([F.linear(self.act(F.linear(c, w1, b1[0])), w2, b2[0]) for c, w1, b1, w2, b2 in
                      zip(x.split(list(counts)), self.w1.unbind(0), self.b1.unbind(0), self.w2.unbind(0), self.b2.unbind(0))])

def set_variant(model, name):
    for m in model.modules():
        if isinstance(m, moe.FFNExperts):
            if name == 'autograd': m.forward, m.grouped = autograd_batched.__get__(m), autograd_grouped.__get__(m)
            else:
                for a in ('forward', 'grouped'): m.__dict__.pop(a, None)
                m.workspace = moe.Workspace(keep=name == 'workspace')
    model.hidden_variant = name

def mapex_case(batch):
    cfg = replace(get_config('mapex', 'paper'), depth=2, decoder_depth=2)
    C = max(b for _, b in modality_channels(MAPEX_MODALITIES).values())
    x = torch.randn(batch, C, cfg.img_size, cfg.img_size)
    return MAPEX(cfg), (lambda m: m(x)[0]), 'MAPEX paper shape, encoder depth 2, decoder depth 2'

def csmoe_case(batch):
    cfg = replace(get_config('csmoe', 'paper'), ms_depth=1, cs_depth=1, decoder_depth=1)
    s2, s1 = torch.randn(batch, cfg.s2_chans, 224, 224), torch.randn(batch, cfg.s1_chans, 224, 224)
    return CSMoE(cfg), (lambda m: m(s2, s1)[0]), 'CSMoE paper shape (Soft MoE, 8 experts, S = ceil(196/8)), 1 + 1 MoE blocks, decoder depth 1'

def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=7); ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--models', default='mapex,csmoe')
    a = ap.parse_args(argv)
    if not hasattr(moe, 'Workspace'): raise SystemExit("06_moe no longer has Workspace: run this on commit 1b3fd40")
    variants = ['workspace', 'no workspace', 'autograd']
    for name in a.models.split(','):
        set_seed(0)
        model, loss_fn, what = dict(mapex=mapex_case, csmoe=csmoe_case)[name](a.batch)
        model.train(); opt = Adam(list(model.parameters()), lr=1e-5)
        times = {v: [] for v in variants}
        for i in range(a.steps + 1):
            for v in variants:
                set_variant(model, v)
                torch.manual_seed(i)
                t0 = time.perf_counter()
                loss = loss_fn(model); loss.backward(); opt.step(); opt.zero_grad()
                dt = time.perf_counter() - t0
                if i: times[v].append(dt)          # step 0 of each variant warms up
        med = {v: statistics.median(t) for v, t in times.items()}
        print(f"{what}, batch {a.batch}, {torch.get_num_threads()} thread(s), median of {a.steps} interleaved steps")
        for v in variants: print(f"  {v:13s} {med[v]:7.3f} s/step  {med[v] / med['workspace']:.3f}x of workspace"
                                 f"  (spread {min(times[v]):.3f}-{max(times[v]):.3f})")

if __name__ == '__main__': main()
