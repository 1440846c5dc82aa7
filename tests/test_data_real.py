"`open_dataset` on the real files in ../shared/data (each test skips cleanly when its folder is absent)."
import json, warnings
import numpy as np
import pytest
import torch
import fastcore.test as ft
test_eq, test_fail, test_close = ft.test_eq, ft.test_fail, ft.test_close
test_eq.__test__ = test_fail.__test__ = test_close.__test__ = False   # fastcore helpers, not pytest tests
from eo_moe_nb.core import shared_data_dir
from eo_moe_nb.data.open import open_dataset, check_units, InvalidPatchWarning, InvalidPatchError, UnitsError, detect_layout
from eo_moe_nb.data.bands import LANDSAT_BANDS, DATASET_STATS

SD = shared_data_dir()
def _need(sub):
    p = SD/sub if SD is not None else None
    if p is None or not p.exists(): pytest.skip(f"../shared/data/{sub} absent")
    return p

FILL = 'S2A_MSIL2A_20170613T101032_67_54'

@pytest.fixture(scope='module')
def benls():
    root = _need('bigearthnet_landsat_samples')
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        ds = open_dataset(root, 'samples')
    return ds, [str(x.message) for x in w if issubclass(x.category, InvalidPatchWarning)]

def test_benls_layout_and_fill_patch(benls):
    ds, msgs = benls
    test_eq((ds.kind, ds.bands, len(ds.classes)), ('ben-ls', LANDSAT_BANDS, 19))
    test_eq(len(msgs), 1); test_eq(msgs[0].splitlines()[1], f'  {FILL}: all pixels are 0 (fill; the file has no nodata tag)')   # one warning, naming the patch and why
    test_eq((list(ds.problems), len(ds), FILL in ds.names), ([FILL], 99, False))

def test_benls_raise_policy():
    root = _need('bigearthnet_landsat_samples')
    test_fail(lambda: open_dataset(root, 'samples', on_invalid='raise'), contains=f'{FILL}: all pixels are 0')

def test_benls_zscores_with_the_authors_statistics(benls):
    ds, _ = benls
    x = torch.stack([ds[i]['image'] for i in range(len(ds))])
    test_eq(x.shape, (99, 7, 40, 40))                                          # centre-cropped, not resampled
    m = x.double().mean((0, 2, 3))
    test_close(m, torch.zeros(7, dtype=m.dtype), eps=1.5)

def test_benls_labels_and_coordinates(benls):
    from rasterio.warp import transform
    from rasterio.crs import CRS
    from eo_moe_nb.data.bigearthnet import ben43_to_19, BEN19_LABELS
    ds, _ = benls
    for i in range(len(ds)):
        d = ds[i]; j = json.loads((ds.data_dir/'labels'/f"{d['meta']['name']}_labels_metadata.json").read_text())
        want = ben43_to_19(j['labels'])
        test_eq([BEN19_LABELS[k] for k in torch.nonzero(d['label']).flatten().tolist()], want)
        c = j['coordinates']
        (lon,), (lat,) = transform(CRS.from_wkt(j['projection']), 'EPSG:4326', [(c['ulx'] + c['lrx'])/2], [(c['uly'] + c['lry'])/2])
        test_close(torch.tensor([d['meta']['lat'], d['meta']['lon']], dtype=torch.float64), torch.tensor([lat, lon], dtype=torch.float64), eps=0.01)

def test_benls_matches_the_authors_inputs():
    root, fx = _need('bigearthnet_landsat_samples'), _need('moe_mae_official_fixture')
    from safetensors.numpy import load_file
    ref = load_file(str(fx/'inputs_outputs.safetensors')); names = json.loads((fx/'patches.json').read_text())['patches']
    ds = open_dataset(root, 'samples', time_parsing='authors', on_invalid='skip')
    items = [ds[ds.names.index(n)] for n in names]
    got = torch.stack([d['image'] for d in items]); test_eq(got.shape, ref['image'].shape)
    test_close(got, torch.from_numpy(ref['image']), eps=1e-4)
    test_eq([d['meta']['hour'] for d in items], ref['hour'].tolist())            # their first-digit hour
    test_eq([float(d['meta']['week']) for d in items], ref['week'].tolist())

def test_units_check_catches_s2_statistics_on_landsat():
    root = _need('bigearthnet_landsat_samples')
    s2 = DATASET_STATS['bigearthnet-v2'].stats
    old = {l: s2[s] for l, s in zip(LANDSAT_BANDS, ('B01', 'B02', 'B03', 'B04', 'B8A', 'B11', 'B12'))}
    with pytest.raises(UnitsError, match=r'ben-ls at .*L8_B1 \+1\d'):                # the old mistake: +13.6 ... +9.8
        open_dataset(root, 'samples', stats=old, on_invalid='skip')

def test_benls_feeds_the_moe_mae_loader():
    "What 50/51 need: the real samples through open_dataset, MetaFeatures and get_dls."
    root = _need('bigearthnet_landsat_samples')
    from eo_moe_nb.models.moe_mae import MetaFeatures
    from eo_moe_nb.data.readers import get_dls
    ds = MetaFeatures(open_dataset(root, 'samples', on_invalid='skip'))
    dls = get_dls(ds, keys=('image', 'meta_feat'), bs=8, valid_pct=0.1, seed=0, n_inp=2)
    x, m = dls.one_batch()
    test_eq((tuple(x.shape), tuple(m.shape)), ((8, 7, 40, 40), (8, 8)))

def test_bigearthnet_real_samples_and_splits():
    ben = _need('bigearthnet_s1s2_samples')
    import pandas as pd
    idx = pd.read_csv(ben/'index.csv')
    v1 = open_dataset(ben/'v1_tiff', 'test', split_dir=ben/'v1_metadata')
    test_eq((v1.kind, len(v1)), ('bigearthnet-v1', int((idx[idx.subdir == 'v1_tiff'].split_v1 == 'test').sum())))
    npz = open_dataset(ben/'v1_npz', 'train', split_dir=ben/'v1_metadata')
    test_eq(len(npz), int((idx[idx.subdir == 'v1_npz'].split_v1 == 'train').sum()))
    test_eq((len(open_dataset(ben/'v2_lmdb', 'val')), len(open_dataset(ben/'v2_lmdb', 'validation'))), (6, 6))
    test_fail(lambda: open_dataset(ben/'v2_lmdb', 'dev'), contains="no patch in split 'dev'")
    for d in (v1, npz):
        m = check_units(d); test_close(torch.tensor(list(m.values())), torch.zeros(len(m)), eps=3)

def test_nothing_recognised_says_what_it_looked_for(tmp_path):
    test_fail(lambda: detect_layout(tmp_path), contains='no known dataset layout. Looked for:')

def test_bigearthnet_v2_tiff_real_singles(tmp_path):
    "The v2 GeoTIFF samples are one S2 patch and one S1 patch of different pairs: each is read alone, with its row of the full v2 metadata."
    ben = _need('bigearthnet_s1s2_samples')
    import pandas as pd
    from eo_moe_nb.data.bigearthnet import labels_to_multi_hot, BEN19_LABELS
    from eo_moe_nb.data.bands import S2_BANDS
    md = pd.read_parquet(ben/'v2_metadata_full.parquet')
    r2 = md[md.patch_id == 'S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_75_43']
    r1 = md[md.s1_name == 'S1A_IW_GRDH_1SDV_20170613T165043_33UUP_70_48']
    r2.to_parquet(tmp_path/'s2.parquet'); r1.to_parquet(tmp_path/'s1.parquet')
    d2 = open_dataset(ben/'v2_tiff', kind='bigearthnet-v2-tiff', metadata=tmp_path/'s2.parquet', s1_bands=())   # units check runs here
    x = d2[0]
    test_eq((d2.kind, len(d2), tuple(x['image'].shape), d2.bands), ('bigearthnet-v2-tiff', 1, (12, 120, 120), S2_BANDS))
    test_eq(x['label'], labels_to_multi_hot(list(r2.labels.iloc[0]), BEN19_LABELS))
    test_eq(round(x['meta']['lat'], 1), 48.3)                                   # Austria (the metadata's country)
    d1 = open_dataset(ben/'v2_tiff', kind='bigearthnet-v2-tiff', metadata=tmp_path/'s1.parquet', s2_bands=())
    test_eq((len(d1), tuple(d1[0]['image'].shape), d1.bands), (1, (2, 120, 120), ('VV', 'VH')))
    test_fail(lambda: open_dataset(ben/'v2_tiff', kind='bigearthnet-v2-tiff', metadata=tmp_path/'s2.parquet', on_invalid='raise'),
              contains='BigEarthNet-S1/S1A_IW_GRDH_1SDV_20170613T165043/S1A_IW_GRDH_1SDV_20170613T165043_33UUP_75_43 not found')   # its S1 partner is not in the samples
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        test_fail(lambda: open_dataset(ben/'v2_tiff', kind='bigearthnet-v2-tiff', metadata=tmp_path/'s2.parquet'), contains='no usable patch (of 1); the unusable patches:\n  S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_75_43: BigEarthNet-S1/')

def test_bigearthnet_v2_snow_cloud_patches_pass_the_units_check():
    "The 6 real snow / cloud / shadow patches (their own metadata parquet) read and do not trip the units check: it flags units, not weather."
    ben = _need('bigearthnet_s1s2_samples')
    r = ben/'v2_lmdb'
    d = open_dataset(r, kind='bigearthnet-v2-lmdb', metadata=r/'metadata_for_patches_with_snow_cloud_or_shadow.parquet')
    m = check_units(d)
    test_eq((len(d), len(m)), (6, 14))
    test_close(torch.tensor(list(m.values())), torch.zeros(14), eps=3)          # B01 is the largest, about +2.1
