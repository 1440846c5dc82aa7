"""Speed of CSMoE Algorithm 2: the fast GA (`ga_select`: sparse index sets, batched fitness) against the
straightforward per-individual implementation (`ga_select_ref`: dense masks, one candidate at a time, Haversine
formula), on real joined strata of the 10 km Major TOM grid. Both must return the same cells.

    python tests/bench/bench_sampler.py            # a sample of strata, T=100 each (a few minutes)
    python tests/bench/bench_sampler.py --full     # also time the whole paper-scale pipeline (fast path, 2 workers)

The reference on the full run would take hours, so its full-run time is extrapolated from the per-iteration cost
measured here (the GA's cost per iteration does not depend on T)."""
import argparse, time, json, os, platform
import numpy as np
from eo_moe_nb.sampler import majortom_grid, default_rasters, assign_descriptors, ga_select, ga_select_ref, stratified_sample

ap = argparse.ArgumentParser()
ap.add_argument('--T', type=int, default=100); ap.add_argument('--strata', type=int, default=8)
ap.add_argument('--full', action='store_true'); ap.add_argument('--n_jobs', type=int, default=2)
a = ap.parse_args()

t0 = time.time()
grid = majortom_grid(10.); rs = default_rasters()
cells = assign_descriptors(grid.lon, grid.lat, rs['climate'], rs['thematic'])
t_alg1 = time.time() - t0
sizes = cells.groupby('stratum').size(); ga = sizes[sizes > 100].sort_values()
print(f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores; grid + Alg. 1: {len(grid):,} cells -> '
      f'{len(cells):,} in {t_alg1:.1f} s; {len(sizes)} strata, {len(ga)} need the GA (n_g from {ga.min()} to {ga.max():,})')
pick = ga.index[np.linspace(0, len(ga) - 1, a.strata).round().astype(int)]   # strata across the size range
tf = tr = 0.
for g in pick:
    d = cells[cells.stratum == g]
    s = time.time(); bf = ga_select(d.lon, d.lat, T=a.T, seed=(0, int(g))); tf += (f := time.time() - s)
    s = time.time(); br = ga_select_ref(d.lon, d.lat, T=a.T, seed=(0, int(g))); tr += (r := time.time() - s)
    assert np.array_equal(bf, br), f'stratum {g}: fast and reference GA differ'
    print(f'  n_g {len(d):>7,}: fast {f/a.T*1e3:6.2f} ms/iter, reference {r/a.T*1e3:7.2f} ms/iter, same cells: yes')
per_f, per_r = tf/(a.T*len(pick)), tr/(a.T*len(pick))
print(f'speedup of the fast GA over the per-individual reference (one core): {per_r/per_f:.1f}x')
print(f'extrapolated GA time at T=2500 over all {len(ga)} GA strata, one core: fast {per_f*2500*len(ga)/60:.1f} min, '
      f'reference {per_r*2500*len(ga)/60:.1f} min')
if a.full:
    s = time.time()
    mu = stratified_sample(cells, n_s=100, T=2500, n_p=10, seed=0, n_jobs=a.n_jobs)
    t_ga = time.time() - s
    est_ref = t_alg1 + per_r*2500*len(ga)/a.n_jobs
    print(f'full pipeline (grid, Alg. 1, Alg. 2 at T=2500, Np=10, {a.n_jobs} workers): {(t_alg1 + t_ga)/60:.1f} min, '
          f'{len(mu):,} tiles; with the reference GA on the same workers about {est_ref/60:.0f} min '
          f'(speedup {est_ref/(t_alg1 + t_ga):.1f}x)')
