"""The main job, 30_mapex_pretrain, at scale='tiny' through papermill: it trains, writes its outputs, honours -p, reads ben-ge
as distributed through open_dataset, refuses other folders before writing, resumes after a kill to the weights of the
uninterrupted run."""
import json, os, re, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from eo_moe_nb.models.mapex import MAPEX
from conftest import ROOT, run_papermill, papermill_error, files

NB = '30_mapex_pretrain.ipynb'
MODS = ['RGB', 'RedEdge', 'SWIR', 'NIR', 'SAR', 'ELE']

def test_pretrain_tiny_writes_outputs_and_honours_parameters(tmp_path):
    out = tmp_path/'figs'
    run_papermill(NB, tmp_path, scale='tiny', epochs=10, seed=3, out_dir=str(out), ckpt_dir=str(tmp_path/'ckpt'))
    m = json.loads((out/'pretrain_tiny_metrics.json').read_text())
    assert (m['epochs'], m['seed']) == (10, 3)               # the -p values, not the defaults (40 epochs, seed 0)
    # the sanity check the run only warns about: 10 epochs lower the loss by a fifth
    assert m['last_epoch_train_loss'] < 0.8 * m['first_epoch_train_loss'], (m['first_epoch_train_loss'], m['last_epoch_train_loss'])
    assert m['warnings'] == []
    sizes = {f: (out/f).stat().st_size for f in ('pretrain_tiny_loss.png', 'pretrain_tiny_reconstructions.png', 'pretrain_tiny_recon_mse.csv',
                                                 'pretrain_tiny_recon_mse.md', 'pretrain_tiny_routing.png', 'pretrain_tiny_routing.csv',
                                                 'pretrain_tiny_routing.md')}
    assert {f: s > 100 for f, s in sizes.items()} == {f: True for f in sizes}, sizes
    assert (m['model'], m['model_desc'][:5]) == ('mapex', 'MAPEX'), m['model_desc']   # model='auto' trains MAPEX
    # modality routing: every modality's tokens go to exactly k=2 experts of each layer
    n_experts = [len(e.split(': ')[1].split(',')) for layer in m['routing']['experts_per_modality'] for e in layer]
    assert n_experts == [2] * len(n_experts) and len(n_experts) == 2 * len(MODS)
    md = (out/'pretrain_tiny_recon_mse.md').read_text()
    rk = m['run_keys']['pretrain']
    for s in ('Scale: tiny', 'synthetic', 'Paper:', f"run pretrain-{rk['key']}"): assert s in md, s
    # the run key's parts: model, data, split, seed and every training hyperparameter
    assert rk['state'] == 'new' and sorted(rk['parts']) == ['data', 'method', 'model', 'seed', 'split', 'train']
    assert rk['parts']['train'] == dict(epochs=10, batch_size=16, lr=2e-3, warmup_pct=0.1, wd=0.05, modalities=MODS)
    assert (rk['parts']['seed'], rk['parts']['data']['kind'], rk['parts']['data']['n_samples']) == (3, 'generated', 160)
    ck = Path(rk['checkpoint'])
    assert ck == tmp_path/'ckpt'/f"pretrain-{rk['key']}"/'last.pth'
    state = torch.load(ck, weights_only=False)
    assert (state['epoch'], state['train_iter'], state['meta']['modalities'][0], state['meta']['run_key']) == (9, m['steps'], 'RGB', rk['key'])
    net = MAPEX.from_checkpoint(ck)                            # the model contract: configuration and weights from the checkpoint
    assert (state['meta']['model_class'], net.cfg.img_size, net.cfg.norm_pix_loss, net.modalities) == ('MAPEX', 32, False, MODS)
    man = json.loads((out/'manifest_30_mapex_pretrain_tiny.json').read_text())
    assert (man['parameters']['epochs'], man['parameters']['seed'], man['resumed']) == (10, 3, {'pretrain': 'new'})
    assert man['outputs'] == files(out) and man['runs']['pretrain']['key'] == rk['key']
    assert sorted({'data', 'device', 'git', 'parameters', 'versions', 'wall_seconds', 'resumed'} - set(man)) == []
    assert sorted(man['git']) == ['changed', 'commit', 'dirty'] and len(man['git']['commit']) == 40
    assert man['data'] == {'pretrain': 'synthetic ben-ge-style data (160 scenes of 32 px, seed 3)'}

def test_pretrain_reads_published_benge(tmp_path):
    "-p data_dir takes ben-ge as distributed (BigEarthNet v1 folders, <patch_id>_dem.tif, csvs, splits/): `open_dataset` reads it and the run trains on it."
    from eo_moe_nb.data.synthetic_tasks import make_published_benge
    data = make_published_benge(tmp_path/'ben-ge', n_samples=22, size=24, seed=5)
    out = tmp_path/'figs'
    run_papermill(NB, tmp_path/'nb', scale='tiny', epochs=1, data_dir=str(data), split='train', out_dir=str(out), ckpt_dir=str(tmp_path/'ckpt'))
    m = json.loads((out/'pretrain_tiny_metrics.json').read_text())
    parts = m['run_keys']['pretrain']['parts']
    # splits/ben-ge-8k_train.csv holds 20 of the 22 patches: 16 train = one step of 16; resampled from 24 to the tiny preset's 32 px
    assert (m['data'], parts['data']['kind'], parts['data']['path'], m['steps']) == (f"ben-ge at {data.resolve()}", 'folder', str(data.resolve()), 1)
    assert parts['split'] == dict(data_split='train', valid_pct=0.2, seed=0)
    assert MAPEX.from_checkpoint(m['run_keys']['pretrain']['checkpoint']).cfg.img_size == 32

@pytest.mark.parametrize('layout, message', [('none', 'no known dataset layout'), ('wildfire', "holds wildfire data; mapex pretrains on ben-ge")])
def test_pretrain_refuses_a_folder_that_is_not_benge(tmp_path, layout, message):
    from eo_moe_nb.data.synthetic_tasks import make_synthetic_wildfire
    d = tmp_path/'data'; d.mkdir()
    if layout == 'wildfire': make_synthetic_wildfire(d, n_samples=4)
    else: (d/'readme.txt').write_text('not a dataset')
    out, ck = tmp_path/'figs', tmp_path/'ckpt'
    err = papermill_error(NB, tmp_path/'nb', scale='tiny', data_dir=str(d), out_dir=str(out), ckpt_dir=str(ck))
    assert message in err, err
    assert (files(out), files(ck)) == ([], [])

def _cmd(tmp_path, out, name, ckpt='ckpt'):
    return [str(Path(sys.executable).parent/'papermill'), str(ROOT/'nbs'/NB), str(tmp_path/name), '--cwd', str(ROOT/'nbs'),
            '-p', 'scale', 'tiny', '-p', 'epochs', '8', '-p', 'out_dir', str(out), '-p', 'ckpt_dir', str(tmp_path/ckpt)]

def test_pretrain_resumes_after_kill(tmp_path):
    "Kill the job with SIGKILL after its second checkpoint, run the same command again: it resumes the same run and ends where the uninterrupted run ends."
    out = tmp_path/'figs'
    p = subprocess.Popen(_cmd(tmp_path, out, 'killed.ipynb'), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0, epoch, ck = time.time(), -1, None
    while time.time() - t0 < 300 and p.poll() is None:
        cks = list((tmp_path/'ckpt').glob('pretrain-*/last.pth'))
        if cks:
            ck = cks[0]
            try: epoch = torch.load(ck, weights_only=False)['epoch']
            except Exception: pass  # being replaced right now
            if epoch >= 1: break
        time.sleep(0.2)
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    assert 1 <= epoch < 7, f"the run was not caught mid-way (epoch {epoch})"
    assert files(out) == []                                  # a killed run leaves its out_dir as it was
    r = subprocess.run(_cmd(tmp_path, out, 'resumed.ipynb'), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((out/'pretrain_tiny_metrics.json').read_text())
    st = m['run_keys']['pretrain']['state']   # the kill may land a checkpoint after the one seen
    assert re.fullmatch(r'resumed after epoch \d of 8', st) and epoch + 1 <= int(st.split()[3]) < 8, (st, epoch)
    assert Path(m['run_keys']['pretrain']['checkpoint']) == ck
    state = torch.load(ck, weights_only=False)
    n_iter = len(state['history']['step']) // 8
    assert state['epoch'] == 7 and state['history']['epoch'] == list(range(8))
    assert m['steps'] == state['train_iter'] == 8 * n_iter and state['history']['step'] == list(range(1, 8 * n_iter + 1))
    assert list((tmp_path/'ckpt').glob('*/last.pth')) == [ck]   # the same run, not a second one
    # the same command never interrupted: the same run key, the same history and the same weights
    r = subprocess.run(_cmd(tmp_path, tmp_path/'figs_ref', 'ref.ipynb', 'ckpt_ref'), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    (ref,) = (tmp_path/'ckpt_ref').glob('pretrain-*/last.pth')
    assert ref.parent.name == ck.parent.name
    sref = torch.load(ref, weights_only=False)
    assert (state['history']['train_loss'], state['history']['valid_loss']) == (sref['history']['train_loss'], sref['history']['valid_loss'])
    diff = {k: (v.float() - sref['model'][k].float()).abs().max().item() for k, v in state['model'].items()}
    assert max(diff.values()) == 0, sorted(diff.items(), key=lambda kv: -kv[1])[:3]
