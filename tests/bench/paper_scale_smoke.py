"""Paper-scale smoke run and throughput: a few AdamW training steps of each model preset on random inputs of the
papers' shapes (MAPEX: six ben-ge modalities at 224 px; CSMoE: S2 10 bands + S1 2 bands at 224 px; MoE-MAE: 7 Landsat
bands at 40 px with metadata). Prints and writes seconds per step, images per second and peak memory.

    python tests/bench/paper_scale_smoke.py                       # paper presets on the default device (a GPU if any)
    python tests/bench/paper_scale_smoke.py --batch 64 --amp      # bf16 autocast on a GPU
    python tests/bench/paper_scale_smoke.py --scale tiny --steps 2 --out /tmp/t.md   # seconds on a CPU (the test)

Random inputs test that the paper configurations build, train and fit in memory; they say nothing about accuracy.
"""
import argparse, json, platform, resource, time
from pathlib import Path
import torch
from eo_moe_nb.core import get_config, set_seed, default_device
from eo_moe_nb.data.bands import MAPEX_MODALITIES, modality_channels
from eo_moe_nb.models.mapex import MAPEX
from eo_moe_nb.models.csmoe import CSMoE
from eo_moe_nb.models.moe_mae import MoEMAE

def mapex_case(scale, batch, device):
    cfg = get_config('mapex', scale)
    C = max(b for _, b in modality_channels(MAPEX_MODALITIES).values())
    x = torch.randn(batch, C, cfg.img_size, cfg.img_size, device=device)
    return MAPEX(cfg), (lambda m: m(x)[0]), f"{len(MAPEX_MODALITIES)} modalities ({C} bands), {cfg.img_size} px"

def csmoe_case(scale, batch, device):
    cfg = get_config('csmoe', scale)
    s2 = torch.randn(batch, cfg.s2_chans, cfg.img_size, cfg.img_size, device=device)
    s1 = torch.randn(batch, cfg.s1_chans, cfg.img_size, cfg.img_size, device=device)
    return CSMoE(cfg), (lambda m: m(s2, s1)[0]), f"S2 {cfg.s2_chans} + S1 {cfg.s1_chans} bands, {cfg.img_size} px, patch {cfg.patch_size}"

def moe_mae_case(scale, batch, device):
    cfg = get_config('moe_mae', scale)
    x = torch.randn(batch, cfg.in_chans, cfg.img_size, cfg.img_size, device=device)
    meta = torch.randn(batch, 2 * cfg.n_meta, device=device)
    return MoEMAE(cfg), (lambda m: m(x, meta)[0]), f"{cfg.in_chans} bands, {cfg.img_size} px, metadata"

CASES = dict(mapex=mapex_case, csmoe=csmoe_case, moe_mae=moe_mae_case)

def run_case(name, scale, batch, steps, device, amp):
    set_seed(0)
    model, loss_fn, shape = CASES[name](scale, batch, device)
    model = model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    n_params = sum(p.numel() for p in model.parameters())
    cuda = device.type == 'cuda'
    if cuda: torch.cuda.reset_peak_memory_stats()
    times, losses = [], []
    for i in range(steps + 1):                      # step 0 warms up (allocation, kernel selection)
        if cuda: torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(model)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        if cuda: torch.cuda.synchronize()
        if i: times.append(time.perf_counter() - t0)
        losses.append(float(loss.detach()))
    if not all(map(lambda v: v == v and abs(v) != float('inf'), losses)): raise RuntimeError(f"{name}: non-finite loss {losses}")
    s = sorted(times)[len(times) // 2]
    return dict(model=name, scale=scale, input=shape, params_M=round(n_params / 1e6, 2), batch=batch, steps=steps,
                sec_per_step=round(s, 4), images_per_sec=round(batch / s, 1),
                peak_mem_GiB=round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
                loss_first=round(losses[0], 4), loss_last=round(losses[-1], 4))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--scale', default='paper', choices=['paper', 'small', 'tiny'])
    ap.add_argument('--models', default='mapex,csmoe,moe_mae')
    ap.add_argument('--batch', type=int, default=0, help='0: 32 on a GPU, 2 on a CPU')
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--amp', action='store_true', help='bf16 autocast')
    ap.add_argument('--out', default='', help='Markdown table to write (also a .json beside it)')
    a = ap.parse_args(argv)
    device = default_device()
    batch = a.batch or (32 if device.type == 'cuda' else 2)
    what = torch.cuda.get_device_name() if device.type == 'cuda' else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    rows = []
    for name in [m.strip() for m in a.models.split(',') if m.strip()]:
        if name not in CASES: raise SystemExit(f"unknown model {name!r}; choose from {list(CASES)}")
        r = run_case(name, a.scale, batch, a.steps, device, a.amp)
        print(json.dumps(r)); rows.append(r)
    head = list(rows[0])
    md = [f"# Training throughput, {a.scale} presets, random inputs\n",
          f"Device: {what}; torch {torch.__version__}; AdamW; {'bf16 autocast' if a.amp else 'fp32'}; median of {a.steps} steps after one warm-up step; "
          f"peak_mem_GiB: {'peak GPU memory allocated' if device.type == 'cuda' else 'peak resident memory of the process so far (Linux ru_maxrss)'}. "
          f"Written by `tests/bench/paper_scale_smoke.py`.\n",
          '| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    md += ['| ' + ' | '.join(str(r[k]) for k in head) + ' |' for r in rows]
    print('\n'.join(md))
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text('\n'.join(md) + '\n')
        Path(a.out).with_suffix('.json').write_text(json.dumps(dict(device=what, amp=a.amp, rows=rows), indent=1))
    return rows

if __name__ == '__main__': main()
