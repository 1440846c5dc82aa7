import os, sys, shutil
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='session')
def root()->Path: return ROOT

def run_papermill(nb:str, run_dir:Path, **params)->Path:
    "Execute nbs/<nb> with papermill into run_dir (kernel: this interpreter), passing `params` as -p values."
    import papermill as pm
    run_dir = Path(run_dir); run_dir.mkdir(parents=True, exist_ok=True)
    out_nb = run_dir/f"{Path(nb).stem}.out.ipynb"
    pm.execute_notebook(str(ROOT/'nbs'/nb), str(out_nb), parameters=params, cwd=str(ROOT/'nbs'),
                        kernel_name='python3', progress_bar=False)
    return out_nb
