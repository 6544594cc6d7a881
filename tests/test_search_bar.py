"""What `nas search` shows while its workers compile the kernels: a plain sentence, and
no ETA skewed by the wait (tqdm's bar, driven as the search loop drives it)."""
import io
import subprocess
import sys
from datetime import timedelta

from tqdm import tqdm

from nas.coordinator.search import BAR, _update
from nas.evolution.kernels.warm import COMPILING
from nas.store.status import Progress
from nas.testing import ROOT, clean_env


def shown(prog: Progress, compiled_first: bool) -> str:
    out = io.StringIO()
    with tqdm(total=100, file=out, bar_format=BAR) as bar:
        _update(bar, prog, 10, compiled_first)
    return out.getvalue().split("\r")[-1]


def test_the_bar_says_the_kernels_compile_and_keeps_the_eta_out():
    eta = timedelta(minutes=23)
    waiting = shown(Progress(eta=eta), True)
    assert COMPILING in waiting and "eta=-" in waiting and "0:23" not in waiting
    running = shown(Progress(generations_done=5, running=2, eta=eta), True)
    assert COMPILING not in running and "eta=-" in running  # the rate still holds the wait
    settled = shown(Progress(generations_done=50, finished=1, eta=eta), True)
    assert "eta=23m" in settled or "eta=0:23" in settled, settled
    warm = shown(Progress(generations_done=5, eta=eta), False)
    assert COMPILING not in warm and "eta=-" not in warm
    assert "<" not in warm and "?" not in warm  # no tqdm remaining-time guess


def test_kernels_ready_reads_this_machine_s_cache(tmp_path):
    probe = ("from pathlib import Path; from nas.evolution.kernels import _numba; "
             "from nas.evolution.kernels.warm import kernels_ready; "
             "print(_numba.numba.config.CACHE_DIR); print(kernels_ready())")
    env = clean_env(NAS_KERNEL_CACHE=str(tmp_path / "cache"))

    def ask():
        out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
        return out[0], out[1] == "True"

    cache, ready = ask()
    assert cache.startswith(str(tmp_path)) and not ready
    (tmp_path / "cache" / cache.rsplit("/", 1)[1] / "complete").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "cache" / cache.rsplit("/", 1)[1] / "complete").touch()
    assert ask() == (cache, True)


def test_which_studies_compile_first_and_status_says_so(tmp_path):
    """Only nas's own evolution of a built-in task on the CPU kernel engine compiles; a
    worker doing so is shown as compiling by `nas status`."""
    probe = ("from nas.evolution.kernels.warm import compiles_first as c; "
             "print(c('cartpole', None, 'kernel', None), c('cartpole', 'm:f', 'kernel', None), "
             "c('gym:CartPole-v1', None, 'kernel', None), c('double-pole', None, 'torch', None), "
             "c('double-pole', None, 'kernel', 'cuda'))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                         env=clean_env(NAS_KERNEL_CACHE=str(tmp_path / "empty")), check=True)
    assert out.stdout.split() == ["True", "False", "False", "False", "False"]

    from nas.coordinator.status_view import render

    worker = {"host": "h", "pid": 1, "threads": 1, "state": "compiling", "seen_seconds_ago": 1.0,
              "study": "s", "trial": None, "stale": False}
    text = render({"studies": [], "running": [], "workers": [worker]})
    assert "compiling" in text.splitlines()[-2] and COMPILING in text
    assert COMPILING not in render({"studies": [], "running": [], "workers": [{**worker, "state": "busy"}]})
