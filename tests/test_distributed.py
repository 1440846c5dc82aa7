"""Data-parallel training on 2 CPU processes (gloo; `torchrun`, as `accelerate launch` runs CPU processes only through MPI)
against one process.

A residual Soft MoE layer trained as a denoiser (no attention: a key bias has an analytically zero gradient, which
Adam turns from rounding noise into lr-sized steps, so it would differ between any two summation orders) (its loss is a mean over samples, with no batch
statistics, so 2 ranks x batch 4 take the same steps as 1 process x batch 8):
- a 2-process run is killed (`os._exit` in every rank) after step 7 of 12, with a checkpoint every 2 steps, and
  resumed by a new 2-process launch;
- its loss curve (the global batch's loss, averaged over the ranks; steps 1-6 from before the kill, 7-12 after),
  validation losses and final weights equal those of one uninterrupted process with batch 8 within 1e-5 (float32;
  the runs differ only in the order of the gradient sums: measured differences are about 1e-7);
- only rank 0 writes checkpoints.
Two launches of 2 processes and one of 1 process: about a minute on an idle 2-core machine.

This file is also the worker: `python tests/test_distributed.py worker OUT [--crash N] [--resume] [--bs B]`.
"""
import os, subprocess, sys
from pathlib import Path
import pytest
from conftest import launch as _launch, ok

HERE = Path(__file__).resolve()

def worker(out:Path, bs:int, crash:int, resume:bool, every:int):
    out.mkdir(parents=True, exist_ok=True)
    import torch, torch.nn as nn
    from functools import partial
    from fastai.basics import Callback
    import eo_moe_nb.train as tr
    from eo_moe_nb.core import set_seed
    from eo_moe_nb.moe import SoftMoE
    torch.set_num_threads(1)
    rank = int(os.environ.get('RANK', 0))
    save = tr.save_checkpoint
    def logged_save(path, state):                       # record which rank writes
        with open(out/f'writes_rank{rank}.log', 'a') as f: f.write(f'{path}\n')
        return save(path, state)
    tr.save_checkpoint = logged_save

    class Toy(nn.Module):
        def __init__(self):
            super().__init__(); self.norm, self.moe = nn.LayerNorm(16), SoftMoE(16, 32, n_experts=4, slots_per_expert=2)
        def forward(self, x):
            z = x + 0.1 * torch.sin(3 * x)
            return ((z + self.moe(self.norm(z)) - x).pow(2).mean(),)

    class Kill(Callback):
        def after_batch(self):
            if self.training and self.train_iter == crash: os._exit(3)

    set_seed(0); x = torch.randn(40, 6, 16)
    set_seed(1); model = Toy()
    learn = tr.mae_learner(tr.tensor_dls(x, bs=bs, valid_pct=0.2), model)   # 32 train, 8 valid
    with learn.no_bar(), learn.no_logging():
        hist = tr.fit_warmup_cosine(learn, 3, 1e-2, 0.1, ckpt=out/'ck'/'last.pth', resume=resume, every=every,
                                    cbs=[Kill()] if crash else None)
    if tr.is_rank0():
        torch.save(dict(hist=hist, model=tr.unwrap(learn.model).state_dict(),
                        world=tr.dist.get_world_size() if tr.distributed() else 1), out/'result.pth')

def launch(out:Path, nproc:int, *args)->subprocess.CompletedProcess:
    out.mkdir(parents=True, exist_ok=True)
    return _launch(HERE, 'worker', out, *args, nproc=nproc)

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    pytest.importorskip('accelerate')
    t = tmp_path_factory.mktemp('dist')
    ok(launch(t/'one', 1, '--bs', 8))
    killed = launch(t/'two', 2, '--bs', 4, '--crash', 7)
    assert killed.returncode != 0 and not (t/'two'/'result.pth').exists(), killed.stderr[-2000:]
    ok(launch(t/'two', 2, '--bs', 4, '--resume'))
    import torch
    return t, {k: torch.load(t/k/'result.pth', weights_only=False) for k in ('one', 'two')}

def _close(a, b, tol):
    import torch
    assert a.keys() == b.keys()
    for k in a: assert a[k].shape == b[k].shape and torch.allclose(a[k], b[k], atol=tol, rtol=0), k

def test_killed_two_process_run_resumes_to_the_one_process_run(runs):
    _, r = runs
    assert (r['one']['world'], r['two']['world']) == (1, 2)
    h1, h2 = r['one']['hist'], r['two']['hist']
    assert h1['step'] == h2['step'] == list(range(1, 13))         # 32 train samples: 4 global batches of 8, 3 epochs
    assert len(h1['valid_loss']) == len(h2['valid_loss']) == 3
    for k in ('train_loss', 'valid_loss', 'lr'): assert max(abs(a - b) for a, b in zip(h1[k], h2[k])) < 1e-5, k
    assert h1['train_loss'][-1] < h1['train_loss'][0]
    _close(r['one']['model'], r['two']['model'], 1e-5)

def test_only_rank0_writes(runs):
    t, _ = runs
    assert (t/'two'/'writes_rank0.log').read_text().count('last.pth') >= 6   # 3 before the kill, 4 after
    assert not (t/'two'/'writes_rank1.log').exists()

if __name__ == '__main__' and sys.argv[1:2] == ['worker']:
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument('cmd'); ap.add_argument('out', type=Path)
    ap.add_argument('--bs', type=int, default=8); ap.add_argument('--crash', type=int, default=0)
    ap.add_argument('--resume', action='store_true'); ap.add_argument('--every', type=int, default=2)
    a = ap.parse_args()
    worker(a.out, a.bs, a.crash, a.resume, a.every)
