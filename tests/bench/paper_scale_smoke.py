"""Paper-scale smoke run and throughput: a few AdamW training steps of each model preset on random inputs of the
papers' shapes (MAPEX: six ben-ge modalities at 224 px; CSMoE: S2 10 bands + S1 2 bands at 224 px; MoE-MAE: 7 Landsat
bands at 40 px with metadata), on 1 or N processes (`torchrun` / `accelerate launch`: data-parallel, each rank its
own batch), bf16 autocast by default on a GPU. Records per preset: seconds per step, images per second (all ranks),
peak GPU memory (the largest over the ranks), the model FLOPs of a training step from `13_flops` (3 x the forward's
true FLOPs: the backward costs twice the forward) and the model FLOP utilisation (MFU: achieved model FLOP/s per GPU
over the GPU's peak dense bf16 FLOP/s, from `PEAK_TFLOPS` or `--peak-tflops`), and a memory estimate per GPU
(16 bytes per parameter for fp32 weights, gradients and AdamW's two moments, plus the bytes of the tensors the
forward saves for the backward, as measured in the run), so the estimate can be checked against the measured peak.

    torchrun --nproc_per_node 8 tests/bench/paper_scale_smoke.py      # -> paper_figures/throughput_paper_gpu.md
    python tests/bench/paper_scale_smoke.py --batch 64                 # one GPU
    python tests/bench/paper_scale_smoke.py --batch 2 --steps 1 --precision bf16   # no GPU: paper_figures/throughput_paper_cpu.md
    python tests/bench/paper_scale_smoke.py --scale tiny --steps 2 --out /tmp/t.md       # CPU dry run (the test)

Random inputs test that the paper configurations build, train and fit in memory; they say nothing about accuracy.
Rank 0 alone prints and writes.
"""
import argparse, json, os, platform, resource, time
from pathlib import Path
import torch, torch.distributed as dist
from eo_moe_nb.core import get_config, set_seed, default_device
from eo_moe_nb.data.bands import MAPEX_MODALITIES, modality_channels
from eo_moe_nb.flops import count_flops
from eo_moe_nb.models.mapex import MAPEX
from eo_moe_nb.models.csmoe import CSMoE
from eo_moe_nb.models.moe_mae import MoEMAE

# dense bf16 tensor-core peak per GPU (vendor data sheets, without sparsity), TFLOP/s
PEAK_TFLOPS = {'H200': 989., 'H100 SXM': 989., 'H100 PCIe': 756., 'H100': 989., 'A100': 312., 'L40S': 362., 'A10G': 125., 'L4': 121.}

def mapex_case(scale, batch, device):
    cfg = get_config('mapex', scale)
    C = max(b for _, b in modality_channels(MAPEX_MODALITIES).values())
    x = torch.randn(batch, C, cfg.img_size, cfg.img_size, device=device)
    return MAPEX(cfg), (x,), f"{len(MAPEX_MODALITIES)} modalities ({C} bands), {cfg.img_size} px"

def csmoe_case(scale, batch, device):
    cfg = get_config('csmoe', scale)
    s2 = torch.randn(batch, cfg.s2_chans, cfg.img_size, cfg.img_size, device=device)
    s1 = torch.randn(batch, cfg.s1_chans, cfg.img_size, cfg.img_size, device=device)
    return CSMoE(cfg), (s2, s1), f"S2 {cfg.s2_chans} + S1 {cfg.s1_chans} bands, {cfg.img_size} px, patch {cfg.patch_size}"

def moe_mae_case(scale, batch, device):
    cfg = get_config('moe_mae', scale)
    x = torch.randn(batch, cfg.in_chans, cfg.img_size, cfg.img_size, device=device)
    meta = torch.randn(batch, 2 * cfg.n_meta, device=device)
    return MoEMAE(cfg), (x, meta), f"{cfg.in_chans} bands, {cfg.img_size} px, metadata"

CASES = dict(mapex=mapex_case, csmoe=csmoe_case, moe_mae=moe_mae_case)

def world()->tuple[int, int]:
    "(rank, number of processes), joining the launcher's process group when there is one."
    if int(os.environ.get('WORLD_SIZE', 1)) > 1 and not dist.is_initialized():
        if torch.cuda.is_available(): torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
        dist.init_process_group('nccl' if torch.cuda.is_available() else 'gloo')
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)

def peak_tflops(name:str)->float|None:
    "The dense bf16 peak of a GPU named `name` (longest matching key of `PEAK_TFLOPS`), else None."
    hits = [k for k in PEAK_TFLOPS if k.lower() in name.lower()]
    return PEAK_TFLOPS[max(hits, key=len)] if hits else None

class SavedBytes:
    "Bytes of the distinct tensors autograd saves for the backward while active (the activation memory of a step)."
    def __init__(self): self.seen, self.bytes = set(), 0
    def pack(self, t):
        try: key = (t.untyped_storage().data_ptr(), t.dtype)
        except (RuntimeError, NotImplementedError): key = id(t)
        if key not in self.seen: self.seen.add(key); self.bytes += t.untyped_storage().nbytes()
        return t
    def __enter__(self):
        self.ctx = torch.autograd.graph.saved_tensors_hooks(self.pack, lambda t: t); self.ctx.__enter__(); return self
    def __exit__(self, *exc): return self.ctx.__exit__(*exc)

def _max_over_ranks(v:float)->float:
    if not dist.is_initialized(): return v
    t = torch.tensor([v], dtype=torch.float64, device='cuda' if torch.cuda.is_available() else 'cpu')
    dist.all_reduce(t, op=dist.ReduceOp.MAX); return t.item()

def run_case(name, scale, batch, steps, device, precision, n_proc=1, peak=None):
    set_seed(0)
    model, inputs, shape = CASES[name](scale, batch, device)
    model = model.to(device).train()
    n_params = sum(p.numel() for p in model.parameters())
    fwd_flops = count_flops(model, *inputs).true_flops            # the training forward at this batch (13_flops)
    net = model
    if n_proc > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == 'cuda' else None,
                                                        find_unused_parameters=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    cuda = device.type == 'cuda'
    if cuda: torch.cuda.reset_peak_memory_stats()
    times, losses, saved = [], [], SavedBytes()
    for i in range(steps + 1):                      # step 0 warms up (allocation, kernel selection) and measures saved tensors
        if cuda: torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == 'bf16'):
            if i == 0:
                with saved: loss = net(*inputs)[0]
            else: loss = net(*inputs)[0]
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        if cuda: torch.cuda.synchronize()
        if i: times.append(time.perf_counter() - t0)
        losses.append(float(loss.detach()))
    if not all(v == v and abs(v) != float('inf') for v in losses): raise RuntimeError(f"{name}: non-finite loss {losses}")
    s = _max_over_ranks(sorted(times)[len(times) // 2])       # the slowest rank's median step
    train_flops = 3 * fwd_flops                                # per rank and step
    mem = _max_over_ranks(torch.cuda.max_memory_allocated() / 2**30 if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    est = (16 * n_params + _max_over_ranks(saved.bytes)) / 2**30
    return dict(model=name, scale=scale, input=shape, params_M=round(n_params / 1e6, 2), batch=batch, steps=steps,
                processes=n_proc, precision=precision, sec_per_step=float(f'{s:.4g}'), images_per_sec=round(n_proc * batch / s, 1),
                peak_mem_GiB=round(mem, 3), est_mem_GiB=round(est, 3),
                train_GFLOPs_per_image=round(train_flops / batch / 1e9, 4),
                TFLOPs_per_sec_per_device=round(train_flops / s / 1e12, 4),
                mfu=round(train_flops / s / (peak * 1e12), 4) if peak else None,
                loss_first=round(losses[0], 4), loss_last=round(losses[-1], 4))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--scale', default='paper', choices=['paper', 'small', 'tiny'])
    ap.add_argument('--models', default='mapex,csmoe,moe_mae')
    ap.add_argument('--batch', type=int, default=0, help='per process; 0: 32 on a GPU, 2 on a CPU')
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--precision', default=None, choices=['bf16', 'fp32'], help='default bf16 on a GPU, fp32 on a CPU')
    ap.add_argument('--amp', action='store_true', help='same as --precision bf16')
    ap.add_argument('--peak-tflops', type=float, default=None, help="the device's peak dense bf16 TFLOP/s for MFU (default: PEAK_TFLOPS by GPU name)")
    ap.add_argument('--out', default=None, help="Markdown table to write (also a .json beside it); default for --scale paper: "
                    "paper_figures/throughput_paper_<gpu|cpu>.md, else none ('' for none)")
    a = ap.parse_args(argv)
    rank, n_proc = world()
    device = torch.device('cuda', torch.cuda.current_device()) if torch.cuda.is_available() else default_device('cpu')
    cuda = device.type == 'cuda'
    precision = 'bf16' if a.amp else (a.precision or ('bf16' if cuda else 'fp32'))
    batch = a.batch or (32 if cuda else 2)
    what = torch.cuda.get_device_name() if cuda else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    peak = a.peak_tflops or (peak_tflops(what) if cuda else None)
    if a.out is None: a.out = str(Path(__file__).resolve().parents[2]/'paper_figures'/f"throughput_paper_{'gpu' if cuda else 'cpu'}.md") if a.scale == 'paper' else ''
    rows = []
    for name in [m.strip() for m in a.models.split(',') if m.strip()]:
        if name not in CASES: raise SystemExit(f"unknown model {name!r}; choose from {list(CASES)}")
        r = run_case(name, a.scale, batch, a.steps, device, precision, n_proc, peak)
        if rank == 0: print(json.dumps(r))
        rows.append(r)
    head = list(rows[0])
    md = [f"# Training throughput, {a.scale} presets, random inputs\n",
          f"Device: {n_proc} x {what}; torch {torch.__version__}; AdamW; {precision}{' autocast' if precision == 'bf16' else ''}; "
          f"batch {batch} per process; median of {a.steps} steps after one warm-up step (the slowest rank's). "
          f"peak_mem_GiB: {'peak GPU memory allocated (largest rank)' if cuda else 'peak resident memory of the process so far (Linux ru_maxrss)'}; "
          f"est_mem_GiB: 16 bytes per parameter (fp32 weights, gradients, AdamW moments) + the tensors saved for the backward; "
          f"train_GFLOPs_per_image: 3 x the forward's true FLOPs (13_flops); "
          f"mfu: model FLOP/s per device over {f'a peak of {peak:g} TFLOP/s (dense bf16)' if peak else 'the peak (unknown for this device: none)'}. "
          f"Written by `tests/bench/paper_scale_smoke.py`.\n",
          '| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    md += ['| ' + ' | '.join(str(r[k]) for k in head) + ' |' for r in rows]
    if rank == 0:
        print('\n'.join(md))
        if a.out:
            Path(a.out).parent.mkdir(parents=True, exist_ok=True)
            Path(a.out).write_text('\n'.join(md) + '\n')
            Path(a.out).with_suffix('.json').write_text(json.dumps(dict(device=what, processes=n_proc, precision=precision, peak_tflops=peak, rows=rows), indent=1))
    if dist.is_initialized(): dist.barrier()
    return rows

if __name__ == '__main__': main()
