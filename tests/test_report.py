"""Pictures: the HTML report, PNG curves and an episode replay, decoded and checked."""
from PIL import Image

from conftest import SMALL, nas


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
    from conftest import query

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
