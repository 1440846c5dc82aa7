"The main job, 30_mapex_pretrain, at scale='tiny' through papermill: it trains, writes its outputs, honours -p, resumes after a kill."
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from conftest import ROOT, run_papermill

NB = '30_mapex_pretrain.ipynb'

def test_pretrain_tiny_writes_outputs_and_honours_parameters(tmp_path):
    out = tmp_path/'figs'
    run_papermill(NB, tmp_path, scale='tiny', epochs=10, seed=3, out_dir=str(out), ckpt_dir=str(tmp_path/'ckpt'))
    m = json.loads((out/'pretrain_tiny_metrics.json').read_text())
    assert (m['epochs'], m['seed']) == (10, 3)               # the -p values, not the defaults (40 epochs, seed 0)
    assert m['last_epoch_train_loss'] < 0.8 * m['first_epoch_train_loss']
    for f in ('pretrain_tiny_loss.png', 'pretrain_tiny_reconstructions.png', 'pretrain_tiny_recon_mse.csv', 'pretrain_tiny_recon_mse.md',
              'pretrain_tiny_routing.png', 'pretrain_tiny_routing.csv'):
        assert (out/f).stat().st_size > 100, f
    assert m['model'].startswith('MAPEX')                     # model='auto' trains MAPEX
    # modality routing: every modality's tokens go to exactly k=2 experts of each layer
    assert all(len(e.split(': ')[1].split(',')) == 2 for layer in m['routing']['experts_per_modality'] for e in layer)
    md = (out/'pretrain_tiny_recon_mse.md').read_text()
    assert 'Scale: tiny' in md and 'synthetic' in md and 'Paper:' in md
    ck = torch.load(tmp_path/'ckpt'/'tiny_seed3'/'last.pth', weights_only=False)
    assert ck['epoch'] == 9 and ck['train_iter'] == m['steps'] and ck['meta']['modalities'][0] == 'RGB'

def _cmd(tmp_path, out):
    return [str(Path(sys.executable).parent/'papermill'), str(ROOT/'nbs'/NB), str(out/'run.ipynb'), '--cwd', str(ROOT/'nbs'),
            '-p', 'scale', 'tiny', '-p', 'epochs', '8', '-p', 'out_dir', str(out), '-p', 'ckpt_dir', str(tmp_path/'ckpt')]

def test_pretrain_resumes_after_kill(tmp_path):
    "Kill the job with SIGKILL after its second checkpoint, run the same command again: it ends at the full step count."
    out = tmp_path/'figs'; out.mkdir()
    ck = tmp_path/'ckpt'/'tiny_seed0'/'last.pth'
    p = subprocess.Popen(_cmd(tmp_path, out), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0, epoch = time.time(), -1
    while time.time() - t0 < 300 and p.poll() is None:
        if ck.exists():
            try: epoch = torch.load(ck, weights_only=False)['epoch']
            except Exception: pass  # being replaced right now
            if epoch >= 1: break
        time.sleep(0.2)
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    assert 1 <= epoch < 7, f"the run was not caught mid-way (epoch {epoch})"
    assert not (out/'pretrain_tiny_metrics.json').exists()
    subprocess.run(_cmd(tmp_path, out), check=True, capture_output=True)
    m = json.loads((out/'pretrain_tiny_metrics.json').read_text())
    state = torch.load(ck, weights_only=False)
    n_iter = len(state['history']['step']) // 8
    assert state['epoch'] == 7 and state['history']['epoch'] == list(range(8))
    assert m['steps'] == state['train_iter'] == 8 * n_iter and state['history']['step'] == list(range(1, 8 * n_iter + 1))
