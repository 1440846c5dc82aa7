"42_csmoe_eval's parameters: a misspelt name, a dataset without labelled pairs or without a split stop the run before 41 runs or anything is written."
import pytest
from conftest import papermill_error, files
from eo_moe_nb.core import shared_data_dir

NB = '42_csmoe_eval.ipynb'
BEN = shared_data_dir()/'bigearthnet_s1s2_samples' if shared_data_dir() is not None else None

def test_eval_misspelt_parameter(tmp_path):
    out, ck = tmp_path/'figs', tmp_path/'ckpt'
    err = papermill_error(NB, tmp_path/'a', scale='tiny', cbir_K=5, out_dir=str(out), ckpt_dir=str(ck))
    assert "unknown parameter(s) 'cbir_K' (did you mean 'cbir_k'?)" in err, err
    err = papermill_error(NB, tmp_path/'b', scale='tiny', data_dir=str(tmp_path/'nope'), out_dir=str(out), ckpt_dir=str(ck))
    assert f"data_dir='{tmp_path/'nope'}': no folder at" in err, err
    assert (files(out), files(ck)) == ([], [])   # 41 did not run either

@pytest.mark.skipif(BEN is None or not (BEN/'v1_tiff').exists(), reason="shared BigEarthNet S1+S2 samples absent")
def test_eval_data_without_a_split_stops_first(tmp_path):
    "The 6 v1 GeoTIFF pairs come without the official split csvs: the run names the split it needs, before 41 runs."
    out, ck = tmp_path/'figs', tmp_path/'ckpt'
    err = papermill_error(NB, tmp_path/'a', scale='tiny', data_dir=str(BEN/'v1_tiff'), out_dir=str(out), ckpt_dir=str(ck))
    assert f"data_dir='{BEN/'v1_tiff'}', split 'train'" in err and 'no split list' in err, err
    assert (files(out), files(ck)) == ([], [])

@pytest.mark.skipif(shared_data_dir() is None or not (shared_data_dir()/'bigearthnet_landsat_samples').exists(), reason="shared BEN-LS samples absent")
def test_eval_refuses_data_without_pairs(tmp_path):
    err = papermill_error(NB, tmp_path/'a', scale='tiny', data_dir=str(shared_data_dir()/'bigearthnet_landsat_samples'),
                          out_dir=str(tmp_path/'figs'), ckpt_dir=str(tmp_path/'ckpt'))
    assert "holds 'ben-ls'; the probes and CBIR need labelled S1+S2 pairs" in err, err
