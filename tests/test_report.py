"""Pictures: the HTML report, PNG curves and an episode replay, decoded and checked."""
from PIL import Image

from nas.testing import SMALL, nas


def test_report_and_replay_files_decode(nas_env, db_url, tmp_path):
    nas("study", "create", "pic", *SMALL, "-s", "2", "-n", "3", env=nas_env, check=True)
    nas("worker", "--study", "pic", "--threads", "1", env=nas_env, check=True)
    out = nas("report", "pic", "--out", str(tmp_path / "rep"), env=nas_env, check=True)
    files = out.stdout.split()
    assert [f.rsplit("/", 1)[1] for f in files] == ["pic.html", "pic-best-so-far.png", "pic-curves.png"]
    html = (tmp_path / "rep" / "pic.html").read_text()
    assert html.count("Plotly.newPlot") >= 3 and "Optimization history" in html
    for png in files[1:]:
        with Image.open(png) as img:
            img.verify()
        with Image.open(png) as img:
            assert img.size[0] > 300 and len(img.convert("L").getcolors(maxcolors=1 << 16) or []) > 10  # not blank

    gif, strip = tmp_path / "ep.gif", tmp_path / "ep.png"
    said = nas("replay", "pic", "--out", str(gif), env=nas_env, check=True).stdout
    assert said.startswith(str(gif)) and "an episode of" in said and "drawn" in said
    import re

    steps, drawn = (int(n.replace(",", "")) for n in re.findall(r"of ([\d,]+) steps.*first ([\d,]+) drawn", said)[0])
    assert drawn == min(steps, 400) and 1 <= steps <= 500
    with Image.open(gif) as img:
        assert img.n_frames > 5
    nas("replay", "pic", "--trial", "0", "--seed", "1", "--out", str(strip), env=nas_env, check=True)
    with Image.open(strip) as img:
        assert img.size[0] > 4 * img.size[1]  # a filmstrip: wide
    for args, needle in [(["report", "pic", "--out", "/etc/passwd/x"], "cannot write the report to"),
                         (["replay", "pic", "--out", "/nonexistent/dir/r.png"], "does not exist")]:
        bad = nas(*args, env=nas_env)
        assert bad.returncode == 1 and needle in bad.stderr and len(bad.stderr.splitlines()) == 1, bad.stderr


def test_empty_study_and_bad_requests_are_one_line_errors(nas_env, db_url, tmp_path):
    nas("study", "create", "empty", *SMALL, env=nas_env, check=True)
    for args, needle in [(["report", "empty", "--out", str(tmp_path)], "no completed trial"),
                         (["replay", "empty", "--out", str(tmp_path / "x.gif")], "no stored genome"),
                         (["replay", "empty", "--out", str(tmp_path / "x.mp4")], ".gif or .png"),
                         (["report", "nope"], "no study named 'nope'")]:
        out = nas(*args, env=nas_env)
        assert out.returncode == 1 and needle in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr


def test_neat_study_end_to_end(nas_env, db_url, tmp_path):
    from nas.testing import query

    args = ["-m", "neat", "-t", "cartpole", "-g", "3", "-s", "2", "-p", "30", "-n", "2",
            "--sampler", "random", "--pruner", "none"]
    nas("search", "neat", *args, "-j", "1", env=nas_env, check=True)
    rows = query(db_url, "SELECT species, nodes, connections FROM nas.generations")
    assert rows and all(s >= 1 and n >= 5 and c >= 0 for s, n, c in rows)
    kinds = query(db_url, "SELECT DISTINCT genome->>'kind' FROM nas.genomes")
    assert kinds == [("neat",)]
    params = query(db_url, "SELECT params FROM nas.trials LIMIT 1")[0][0]
    assert "compatibility_threshold" in params and "neat_activation" in params
    out = tmp_path / "neat.png"
    said = nas("replay", "neat", "--out", str(out), env=nas_env, check=True).stdout
    with Image.open(out) as img:
        assert img.size[0] > 4 * img.size[1]
    topology = tmp_path / "neat-topology.png"
    assert f"{topology}: the network" in said
    with Image.open(topology) as img:
        assert len(img.convert("L").getcolors(maxcolors=1 << 16) or []) > 10
    files = nas("report", "neat", "--out", str(tmp_path / "r"), env=nas_env, check=True).stdout.split()
    assert len(files) == 3


def _report_study(nas_env, tmp_path):
    """Two seeds, six trials: enough for importances (with their caveat) and a table."""
    nas("study", "create", "page", *SMALL, "-s", "2", "-n", "6", env=nas_env, check=True)
    nas("worker", "--study", "page", "--threads", "1", env=nas_env, check=True)
    files = nas("report", "page", "--out", str(tmp_path / "rep"), env=nas_env, check=True).stdout.split()
    return tmp_path / "rep" / "page.html", files


def test_report_page_holds_what_a_colleague_needs(nas_env, db_url, tmp_path):
    import optuna

    from nas.coordinator.report_page import shared_params

    page, files = _report_study(nas_env, tmp_path)
    study = optuna.load_study(study_name="page", storage=db_url)
    best = study.best_trial
    html = page.read_text()
    text = _text(html)
    assert f"Trial {best.number}: value" in text
    for name, value in best.params.items():  # every best param in the best block
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        assert f"{name} {shown}" in text, (name, shown)
    assert text.count("seed 0:") >= 6 and "seed 1:" in text  # per-seed results, top-N rows
    assert html.count("<img alt=") == 2 and html.count("src='data:image/png;base64,") == 2  # inline
    assert "fewer than 20, so the ranking is unreliable" in text
    assert "on 1 worker process on 1 host" in text
    assert "Study spec" in text and "cartpole" in text and "budget" in text
    axes = shared_params(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))
    start = html.index("<h2>Parallel coordinates")
    plot = html[start:html.index("<h2>", start + 4)]
    # Optuna truncates axis labels of 20 characters or more (cosyne_elite_fraction, when
    # every trial drew CoSyNE) to 17 and "..."
    assert axes and all(f'"{a if len(a) < 20 else a[:17] + "..."}"' in plot for a in axes), axes
    optional = {n for t in study.trials for n in t.params} - set(axes)
    assert optional  # six random trials of the pure space always draw conditional parameters
    for name in optional:  # ... and those get no parallel-coordinate axis full of None
        assert f'"{name}"' not in plot, name
    start = html.index("<h2>Parameter importances")
    importances = html[start:html.index("<h2>", start + 4)]
    for name in optional:  # nor an importance: they are named as left out instead
        assert f'"{name}"' not in importances, name
    assert "Conditional parameters left out: " + ", ".join(sorted(optional)) in _text(importances)


def _text(html: str) -> str:
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.chunks, self.skip = [], False

        def handle_starttag(self, tag, attrs):
            self.skip = tag in ("script", "style")

        def handle_endtag(self, tag):
            self.skip = False

        def handle_data(self, data):
            if not self.skip:
                self.chunks.append(data)

    parser = Text()
    parser.feed(html)
    return " ".join(" ".join(parser.chunks).split())


def _chromium(page, tmp_path) -> tuple[str, list[str]]:
    """(rendered DOM, console messages) of a page in headless Chromium."""
    import subprocess

    from system_packages import ensure

    browser = ensure({"chromium": "chromium"})["chromium"]
    out = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--no-first-run", "--disable-extensions",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout, [line for line in out.stderr.splitlines() if ":CONSOLE" in line]


def test_report_page_renders_in_headless_chromium(nas_env, db_url, tmp_path):
    import optuna

    page, _ = _report_study(nas_env, tmp_path)
    dom, console = _chromium(page, tmp_path)
    assert console == []  # no errors, no warnings: plotly ran cleanly offline
    assert dom.count('class="main-svg"') >= 4  # the figures were drawn by plotly.js, not left empty
    best = optuna.load_study(study_name="page", storage=db_url).best_trial
    text = _text(dom)
    for name, value in best.params.items():
        assert name in text and (f"{value:.4g}" if isinstance(value, float) else str(value)) in text

    broken = page.with_name("broken.html")  # the check itself can fail: a page with an error
    broken.write_text(page.read_text().replace("<body>", "<body><script>undefinedCall()</script>", 1))
    assert any("undefinedCall" in line for line in _chromium(broken, tmp_path)[1])


def test_curves_that_span_decades_are_drawn_on_a_log_axis():
    from nas.coordinator.report import _spans_decades

    assert _spans_decades([12.0, 340.0, 100_000.0])  # double pole: steps survived
    assert not _spans_decades([0.2, 0.9, 1.0])  # cartpole's fraction survived
    assert not _spans_decades([-5.0, 100.0]) and not _spans_decades([])  # not all positive


def test_replay_measures_the_episode_with_the_kernels_as_the_torch_path_does(monkeypatch):
    """The whole episode replay reports (length, return) comes from the compiled kernels
    where they serve the task, rebuilt from the stored genome record: the same numbers as
    the torch path's step loop, for the networks tests/test_kernels.py shows both engines
    score alike (small layers: BLAS's rounding of wide ones may flip an action), pure and
    NEAT, on the double pole (episodes up to 100,000 steps)."""
    import torch

    from test_kernels import evolved_neat, pure_batch
    from nas.coordinator.replay import _measure
    from nas.evolution.tasks import get_task

    task = get_task("double-pole")
    pure_task, pure_mode, pure_genomes, starts = pure_batch("double-pole", (5,), "tanh", "elman",
                                                            rows=6, scale=3.0)
    neat_mode, neat_genomes, _ = evolved_neat(task, recurrent=True, pop=20, gens=4)
    records = [pure_mode.genome(pure_genomes, i) for i in range(6)] + \
        [neat_mode.genome(neat_genomes, i) for i in range(6)]
    lengths = set()
    for i, record in enumerate(records):
        start = starts[i % 6:i % 6 + 1]
        monkeypatch.setenv("NAS_ENGINE", "kernel")
        kernel = _measure(task, record, start)
        monkeypatch.setenv("NAS_ENGINE", "torch")
        assert _measure(task, record, start) == kernel, (record["kind"], i)
        assert kernel[0] == kernel[1]  # the double pole's return is its steps
        lengths.add(kernel[0])
    assert len(lengths) > 3  # episodes of many lengths, not one
