"""`open_dataset` as the experiment notebooks call it (`-p data_dir` of 30-32, 41, 42, 50, 51), on folders written in the
published layouts (02a / 02 / 03c writers): each call gives the entries, shapes and bands the notebook needs, and the
items batch with torch's default collate."""
import warnings
from pathlib import Path
import pytest
import torch
from torch.utils.data import DataLoader
import fastcore.test as ft
test_eq, test_fail, test_close = ft.test_eq, ft.test_fail, ft.test_close
test_eq.__test__ = test_fail.__test__ = test_close.__test__ = False   # fastcore helpers, not pytest tests
from eo_moe_nb.data.open import open_dataset
from eo_moe_nb.data.bands import LANDSAT_BANDS, MAPEX_MODALITIES

@pytest.fixture(scope='module')
def tmp(tmp_path_factory): return tmp_path_factory.mktemp('open')

def _batch(ds, n=2):
    "One default-collated batch of the first n items (a ragged size or a None in an item fails here)."
    return next(iter(DataLoader(ds, batch_size=min(n, len(ds)))))

def _shapes(d, keys): return {k: tuple(d[k].shape) for k in keys}

def test_30_32_benge_public_layout(tmp):
    "30/32: `open_dataset(data_dir, modalities=mods)`; 31/32 k-NN / land cover: the same with the ben-ge-8k split csvs."
    from eo_moe_nb.data.synthetic_tasks import make_published_benge
    root = make_published_benge(tmp/'benge', 6, 24, seed=0)
    ds = open_dataset(root, modalities=('RGB', 'SAR', 'ELE'))
    test_eq(_shapes(ds[0], ('RGB', 'SAR', 'ELE', 'image')), dict(RGB=(3, 24, 24), SAR=(2, 24, 24), ELE=(1, 24, 24), image=(6, 24, 24)))
    test_eq(ds.bands, MAPEX_MODALITIES['RGB'] + MAPEX_MODALITIES['SAR'] + MAPEX_MODALITIES['ELE'])
    test_eq([len(open_dataset(root, s)) for s in ('train', 'val', 'validation', 'test')], [4, 1, 1, 1])
    test_eq(tuple(_batch(open_dataset(root, 'train', modalities=('RGB',), size=12))['RGB'].shape), (2, 3, 12, 12))

def test_31_sen12flood_split_and_wildfire(tmp):
    "31: `open_dataset(flood_dir, split, split_dir=...)` (or `sequences=`), `open_dataset(wildfire_dir, split, size=...)`."
    from eo_moe_nb.data.synthetic_tasks import make_published_sen12flood, make_synthetic_wildfire
    from eo_moe_nb.data.open import write_sen12flood_split
    fl = make_published_sen12flood(tmp/'flood', 5, 2, 16, seed=0)
    sp = write_sen12flood_split(fl, tmp/'flood_split', seed=0)                    # round(5 * 68 / 330) = 1 test sequence
    tr, te = (open_dataset(fl, s, split_dir=sp, size=32) for s in ('train', 'test'))
    test_eq((len(tr.sequences), len(te.sequences), len(tr) + len(te)), (4, 1, 10))
    b = _batch(tr)
    test_eq((tuple(b['image'].shape), tuple(b['label'].shape), tr.bands, tr.classes), ((2, 2, 32, 32), (2,), ('VV', 'VH'), ('no flood', 'flood')))
    test_fail(lambda: open_dataset(fl, 'train'), contains='The SEN12-FLOOD release has no split file')
    wf = make_synthetic_wildfire(tmp/'fire', 10, 32, seed=0)
    w = open_dataset(wf, 'train', size=24)
    test_eq((tuple(_batch(w)['image'].shape), w.bands), ((2, 3, 24, 24), MAPEX_MODALITIES['SWIR']))

def test_41_42_s1s2_pairs_every_layout(tmp):
    "41/42: `open_dataset(data_dir, split, s2_bands=..., s1_bands=..., size=img_size)` gives `S2` and `S1` for every paired layout."
    from eo_moe_nb.data.synthetic import make_synthetic_bigearthnet_v1, make_synthetic_bigearthnet_v2
    from eo_moe_nb.data.synthetic_tasks import make_synthetic_majortom, make_published_majortom_parquet
    roots = dict(v2lmdb=make_synthetic_bigearthnet_v2(tmp/'v2', 6, 24, seed=0),
                 v2tiff=make_synthetic_bigearthnet_v2(tmp/'v2t', 6, 24, seed=0, lmdb_db=False),
                 v1=make_synthetic_bigearthnet_v1(tmp/'v1', 4, 24, seed=0),
                 mt=make_synthetic_majortom(tmp/'mt', 3, 36, seed=0),
                 mtp=make_published_majortom_parquet(tmp/'mtp', 3, 24, seed=0))
    want = dict(v2lmdb='bigearthnet-v2-lmdb', v2tiff='bigearthnet-v2-tiff', v1='bigearthnet-v1', mt='majortom', mtp='majortom-parquet')
    for k, r in roots.items():
        ds = open_dataset(r, s2_bands=('B02', 'B03', 'B04', 'B08'), s1_bands=('VV', 'VH'), size=32)
        b = _batch(ds)
        test_eq((ds.kind, _shapes(b, ('S2', 'S1', 'image'))), (want[k], dict(S2=(2, 4, 32, 32), S1=(2, 2, 32, 32), image=(2, 6, 32, 32))))
    te = open_dataset(roots['v2tiff'], 'test', s2_bands=('B02', 'B03', 'B04'), size=32)      # 42: splits and reference maps
    import pandas as pd
    test_eq((len(te), tuple(te[0]['mask'].shape)), (int((pd.read_parquet(roots['v2tiff']/'metadata.parquet').split == 'test').sum()), (32, 32)))
    test_eq(sum(len(open_dataset(roots['v2tiff'], s)) for s in ('train', 'val', 'test')), len(open_dataset(roots['v2tiff'])))

def test_42_geobench(tmp):
    "42: `open_dataset(geobench_root, split, task=..., version=...)`."
    from eo_moe_nb.data.geobench import make_synthetic_geobench
    gb = make_synthetic_geobench(tmp/'gb', ('m-eurosat', 'm-bigearthnet'), 2, 16, seed=0)
    ds = open_dataset(gb, 'train', task='m-bigearthnet', size=32)
    b = _batch(ds)
    test_eq((ds.kind, tuple(b['image'].shape), tuple(b['label'].shape)), ('geobench', (2, 12, 32, 32), (2, 43)))
    test_fail(lambda: open_dataset(gb, 'train'), contains='pass task= one of')

def test_50_51_benls_and_eurosat_landsat(tmp):
    "50/51: `open_dataset(data_dir, split, time_parsing=...)` (and `normalize=False` for 51's NDVI), `open_dataset(eurosat_dir, split)`."
    from eo_moe_nb.data.synthetic_tasks import make_published_benls, make_published_eurosat_landsat
    from eo_moe_nb.models.moe_mae import MetaFeatures
    b = make_published_benls(tmp/'benls', 12, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')                                           # the written fill patch is skipped with a warning
        tr, te = open_dataset(b, 'train', time_parsing='authors'), open_dataset(b, 'test')
        raw = open_dataset(b, 'test', normalize=False)
    x = _batch(MetaFeatures(tr))
    test_eq((tuple(x['image'].shape), tuple(x['meta_feat'].shape), tr.bands), ((2, 7, 40, 40), (2, 8), LANDSAT_BANDS))
    test_eq(raw[0]['image'].dtype, torch.float32)
    test_close(float(raw[0]['image'].double().mean()), 12000., eps=6000)          # C2 L2 DN as stored, not z-scores
    es = make_published_eurosat_landsat(tmp/'esl', 3, 32, seed=0)
    e = open_dataset(es, 'test')
    test_eq((tuple(_batch(e)['image'].shape), len(e.classes), e.bands), ((2, 7, 40, 40), 10, LANDSAT_BANDS))
