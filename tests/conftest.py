import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='session')
def root()->Path: return ROOT

def launch(*args, nproc:int=1, port:int=0, timeout:int=300, cwd:Path|None=None)->subprocess.CompletedProcess:
    "`python args...` in one process, or under `torchrun --nproc_per_node nproc`; the checkout's package, one thread each."
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    pre = [sys.executable] + (['-m', 'torch.distributed.run', '--nproc_per_node', str(nproc),
                               '--master_port', str(29500 + (os.getpid() + port) % 1000)] if nproc > 1 else [])
    return subprocess.run(pre + [str(a) for a in args], env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)

def ok(p:subprocess.CompletedProcess, tail:int=3000)->str:
    "Its stdout; a failure showing the ends of stdout and stderr unless it exited 0."
    assert p.returncode == 0, p.stdout[-tail:] + p.stderr[-tail:]
    return p.stdout

def run_papermill(nb:str, run_dir:Path, cwd:Path|None=None, **params)->Path:
    "Execute nbs/<nb> with papermill into run_dir (kernel: this interpreter, working directory `cwd`, default nbs/), passing `params` as -p values."
    import papermill as pm
    run_dir = Path(run_dir); run_dir.mkdir(parents=True, exist_ok=True)
    out_nb = run_dir/f"{Path(nb).stem}.out.ipynb"
    pm.execute_notebook(str(ROOT/'nbs'/nb), str(out_nb), parameters=params, cwd=str(cwd or ROOT/'nbs'),
                        kernel_name='python3', progress_bar=False)
    return out_nb

def papermill_error(nb:str, run_dir:Path, **params)->str:
    "The error a papermill run of nbs/<nb> stops with (fails the test if it succeeds): exception name and message."
    import papermill as pm
    try: run_papermill(nb, run_dir, **params)
    except pm.PapermillExecutionError as e: return f"{e.ename}: {e.evalue}"
    pytest.fail(f"{nb} with {params} ran to the end; it should have stopped")

def stdout(out_nb:Path)->str:
    "Everything an executed notebook printed."
    nb = json.loads(Path(out_nb).read_text())
    return ''.join(''.join(o.get('text', '')) for c in nb['cells'] for o in c.get('outputs', []) if o.get('name') == 'stdout')

def files(folder:Path)->list[str]:
    "Every file under `folder`, relative, sorted ([] when it does not exist)."
    folder = Path(folder)
    return sorted(str(p.relative_to(folder)) for p in folder.rglob('*') if p.is_file()) if folder.exists() else []
