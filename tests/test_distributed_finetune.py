"""Fine-tuning (`eval.finetune`) on 2 CPU processes (gloo, `torchrun`) against one process with the same global batch.

`finetune` adds `DDPTrainer` when more than one process was launched. fastai gathers the validation losses of all
ranks before `ReduceLROnPlateau` reads them, so every rank takes the same learning-rate decisions; the test makes the
plateau rule fire (a learning rate too large, patience 0) and checks on a linear classifier (its loss is a mean over
samples, so 2 ranks x batch 4 take the steps of 1 process x batch 8):
- both ranks end with identical weights, learning rates and recorded losses;
- those equal the 1-process run's within 1e-5 (weights absolute, losses relative; float32: the runs differ only in
  the order of the gradient sums, measured about 3e-7 and 8e-7);
- the learning rate did drop (the plateau rule was exercised).
About 20 s on an idle 2-core machine. This file is also the worker: `python tests/test_distributed_finetune.py worker OUT BS`.
"""
import os, random, sys
from pathlib import Path
import pytest
from conftest import launch, ok

HERE = Path(__file__).resolve()

def worker(out:Path, bs:int):
    import torch, torch.nn as nn
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    import eo_moe_nb.train as tr
    from eo_moe_nb.eval import finetune
    from eo_moe_nb.core import set_seed
    out.mkdir(parents=True, exist_ok=True); torch.set_num_threads(1)
    set_seed(0); x = torch.randn(48, 8); y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    trn, val = [(x[i], y[i]) for i in range(32)], [(x[i], y[i]) for i in range(32, 48)]
    dl_t = DataLoader(trn, bs=bs, shuffle=True, drop_last=True); dl_t.rng = random.Random(1)
    dl_v = DataLoader(val, bs=bs); dl_v.rng = random.Random(2)
    set_seed(1); enc, head = nn.Linear(8, 8), nn.Linear(8, 2)
    learn = finetune(enc, head, DataLoaders(dl_t, dl_v), epochs=6, lr=3., patience=0)
    rank = int(os.environ.get('RANK', 0))
    torch.save(dict(w=tr.unwrap(learn.model).state_dict(), values=learn.recorder.values, lrs=learn.recorder.lrs,
                    world=tr.dist.get_world_size() if tr.distributed() else 1), out/f'rank{rank}.pth')

def test_finetune_two_processes_equal_one(tmp_path):
    pytest.importorskip('torch.distributed')
    import torch
    ok(launch(HERE, 'worker', tmp_path/'two', 4, nproc=2, port=33))
    ok(launch(HERE, 'worker', tmp_path/'one', 8))
    r0, r1, one = (torch.load(p, weights_only=False) for p in (tmp_path/'two'/'rank0.pth', tmp_path/'two'/'rank1.pth', tmp_path/'one'/'rank0.pth'))
    assert (r0['world'], one['world']) == (2, 1), (r0['world'], one['world'])
    for k in r0['w']: torch.testing.assert_close(r0['w'][k], r1['w'][k], rtol=0, atol=0, msg=lambda m: f"rank 0 vs 1, {k}: {m}")
    assert r0['lrs'] == r1['lrs'] and r0['values'] == r1['values'], (r0['lrs'], r1['lrs'], r0['values'], r1['values'])
    for k in r0['w']: torch.testing.assert_close(r0['w'][k], one['w'][k], rtol=0, atol=1e-5, msg=lambda m: f"2 vs 1 process, {k}: {m}")
    torch.testing.assert_close(torch.tensor(r0['values']), torch.tensor(one['values']), rtol=1e-5, atol=1e-6)
    assert r0['lrs'] == one['lrs'], (r0['lrs'], one['lrs'])
    assert min(one['lrs']) < max(one['lrs']), f"the plateau rule never fired: lrs {sorted(set(one['lrs']))}"

if __name__ == '__main__' and sys.argv[1:2] == ['worker']:
    worker(Path(sys.argv[2]), int(sys.argv[3]))
