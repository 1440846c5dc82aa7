"""The project's test command: every component notebook through nbdev's test runner (what `nbdev_test` runs),
then the pytest suite in tests/ (experiment notebooks through papermill, repository checks).

Prints one result per notebook / test and ends with the line `N passed, N failed`. Exit status 1 on any failure.
Usage: python tests/run_all.py [--flags "slow cuda"] [--only-notebooks | --only-pytest] [pytest args...]
"""
from __future__ import annotations
import argparse, os, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def notebook_results(flags:str='', n_workers:int=2)->list[tuple[str,str,float]]:
    "Run each notebook of nbs/ with nbdev's `test_nb`; (name, 'passed'|'failed'|'skipped', seconds)."
    from fastcore.parallel import parallel
    from fastcore.basics import str2bool
    from nbdev.config import get_config
    from nbdev.doclinks import nbglob
    from nbdev.processors import NBProcessor, FrontmatterProc
    from nbdev.test import test_nb
    from fastcore.xtras import working_directory
    os.chdir(ROOT)
    cfg = get_config()
    files = [Path(f).absolute() for f in sorted(nbglob(cfg.nbs_path, as_path=True))]
    skip = []
    for f in files:
        fm = getattr(NBProcessor(f, procs=FrontmatterProc, process=True).nb, 'frontmatter_', {})
        skip.append(str2bool(fm.get('skip_exec', False)))
    to_run = [f for f, s in zip(files, skip) if not s]
    skip_flags, force_flags = cfg.tst_flags.split(), flags.split()
    with working_directory(cfg.nbs_path):
        res = parallel(test_nb, to_run, skip_flags=skip_flags, force_flags=force_flags, n_workers=n_workers,
                       basepath=cfg.config_path, pause=0.01)  # default start method, as nbdev_test
    out = dict(zip(to_run, res))
    return [(f.name, 'skipped (papermill, see tests/)' if s else ('passed' if out[f][0] else 'failed'), 0. if s else out[f][1])
            for f, s in zip(files, skip)]

class _Counter:
    "A pytest plugin counting outcomes."
    def __init__(self): self.results = []
    def pytest_runtest_logreport(self, report):
        if report.when == 'call' or (report.when == 'setup' and report.outcome != 'passed'):
            self.results.append((report.nodeid, report.outcome, report.duration))

def pytest_results(args:list[str])->list[tuple[str,str,float]]:
    import pytest
    c = _Counter()
    pytest.main([str(ROOT/'tests'), '-q', '-p', 'no:cacheprovider', *args], plugins=[c])
    return c.results

def main():
    # two notebooks run at once on CI's two cores: one torch thread each avoids oversubscription, which makes small
    # models tens of times slower
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--flags', default='', help='nbdev test flags to run (e.g. "slow")')
    ap.add_argument('--only-notebooks', action='store_true'); ap.add_argument('--only-pytest', action='store_true')
    ap.add_argument('--n-workers', type=int, default=2)
    a, rest = ap.parse_known_args()
    t0, results = time.time(), []
    if not a.only_pytest:
        nb = notebook_results(a.flags, a.n_workers)
        for n, s, t in nb: print(f"notebook {n:40s} {s:8s} {t:6.1f}s", flush=True)
        results += nb
    if not a.only_notebooks: results += pytest_results(rest)
    n_pass = sum(s == 'passed' for _, s, _ in results)
    n_fail = sum(s == 'failed' for _, s, _ in results)
    n_skip = len(results) - n_pass - n_fail
    for n, s, _ in results:
        if s == 'failed': print(f"FAILED {n}")
    print(f"({n_skip} skipped; {time.time()-t0:.0f}s)")
    print(f"{n_pass} passed, {n_fail} failed")
    sys.exit(1 if n_fail or not n_pass else 0)

if __name__ == '__main__': main()
