"""`nas replay`: rebuild a stored best genome and draw an episode of its task.

What it draws depends on the task:
    built-in tasks, and your own task when it defines `force()` (the Task drawing hints
        cart_index, poles, track_limit): an animated GIF (matplotlib + Pillow) or a filmstrip
        PNG of the cart on its track, the poles, and the force at each step;
    gym:ENV_ID: the environment's own `render_mode="rgb_array"` frames (MuJoCo renders
        headless through EGL; where it cannot render, replay says why);
    anything else: nothing, and replay says so.
Every case prints the episode's length and its return (the fitness evolution gave it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from nas.errors import NasError
from nas.numbers import readable
from nas.store import Store

MAX_FRAMES = 400
FILMSTRIP = 8
GIF_WIDTH = 320  # rendered frames are scaled to this width (GIF frames, filmstrip panels)


def load_genome(store: Store, name: str, trial: int | None, seed: int | None) -> tuple[dict, int, int]:
    row = store.require_study(name)
    found = store.best_genome(row.optuna_study_id, trial, seed)
    if found is None:
        what = f"trial {trial}" if trial is not None else "any trial"
        raise NasError(f"no stored genome for {what} of study {name!r}"
                       + (f" and seed {seed}" if seed is not None else ""))
    return found


@dataclass
class Episode:
    """One episode of one network: its length, its return, and what can be drawn of it:
    `states`/`forces` (cart and poles), or `frames` (rendered images), or neither (`why`)."""
    task: object
    steps: int
    fitness: float
    states: list = field(default_factory=list)
    forces: list = field(default_factory=list)
    frames: list = field(default_factory=list)
    why: str | None = None  # why nothing is drawn


PROGRESS_FROM = 10_000  # steps: an episode this long on the torch path shows a bar


class _Progress:
    """A bar on stderr for a long episode on the torch path, made when the first 1,000
    steps are reported (a kernel reports none: it takes milliseconds)."""

    def __init__(self):
        self.bar = None

    def __call__(self, steps: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(desc="simulating the episode to its end", unit="step", leave=False,
                            mininterval=0.5)
        self.bar.update(steps - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def drawable(task) -> bool:
    """Cart-and-poles pictures need the task's force(); the built-in tasks all have one."""
    from nas.evolution.tasks import Task

    return type(task).force is not Task.force


def episode(task_name: str, genome: dict, seed: int) -> Episode:
    """The episode replay shows: the first start a generator seeded with `seed` draws."""
    import torch

    from nas.evolution.modes import policy_from_genome
    from nas.evolution.tasks import get_task

    task = get_task(task_name)
    start = task.initial_states(torch.Generator().manual_seed(seed), 1)
    with torch.inference_mode():
        if hasattr(task, "film"):
            return _filmed(task, task_name, genome, start)
        steps, fitness = _measure(task, genome, start)
        ep = Episode(task, steps, fitness)
        if not drawable(task):
            ep.why = (f"task {task_name!r} has no pictures (it defines no force(); see the "
                      "Task drawing hints)")
            return ep
        ep.states, ep.forces, _ = task.trace(policy_from_genome(genome), start[0],
                                             min(MAX_FRAMES, task.max_steps))
    return ep


def _measure(task, genome: dict, start) -> tuple[int, float]:
    """The whole episode's length and return, through the evaluator a run of this task
    would get (nas.evolution.evaluators): the compiled kernels take milliseconds for a
    100,000-step double pole; the torch path (a task without a kernel, or NAS_ENGINE=
    torch) steps one row at a time, so a long episode shows its progress."""
    from nas.evolution.evaluators import evaluator_for
    from nas.evolution.modes import stored_mode

    mode, genomes = stored_mode(genome)
    progress = _Progress() if task.max_steps >= PROGRESS_FROM else None
    try:
        return evaluator_for(task, mode, "cpu").episode(genomes, start, progress)
    finally:
        if progress is not None:
            progress.close()


def _filmed(task, task_name: str, genome: dict, start) -> Episode:
    """A Gymnasium episode with its frames; where rendering fails, the episode without."""
    from nas.evolution.modes import policy_from_genome

    try:
        frames, steps, fitness = task.film(policy_from_genome(genome), start[0], MAX_FRAMES + 1)
        return Episode(task, steps, fitness, frames=frames)
    except NasError:
        raise
    except Exception as exc:  # no display, no EGL/OSMesa, no pygame: say so, still score it
        from nas.evolution.tasks.declaration import one_line

        steps, fitness = _measure(task, genome, start)
        hint = (" (MuJoCo renders headless with MUJOCO_GL=egl or osmesa and their libraries; "
                "classic-control envs need pygame: pip install 'nas[gym]')")
        return Episode(task, steps, fitness,
                       why=f"cannot render {task_name} here: {one_line(exc)}{hint}")


def replay(store: Store, name: str, trial: int | None, seed: int | None, out: Path) -> list[str]:
    """Draw the episode into `out` where the task can be drawn: the lines to print."""
    genome, number, seed = load_genome(store, name, trial, seed)
    ep = episode(store.require_study(name).spec.task, genome, seed)
    limit = " (the task's limit)" if ep.steps >= ep.task.max_steps else ""
    said = (f"trial {number}, seed {seed}: an episode of {ep.steps:,} steps{limit}, "
            f"return {readable(ep.fitness)}")
    if ep.why:
        lines = [f"{ep.why}; nothing written to {out}", said]
    else:
        try:
            if ep.frames:
                save_frames(ep.frames, out, getattr(ep.task, "render_fps", 25))
            else:
                render(ep.task, ep.states, ep.forces, out)
        except OSError as exc:
            raise NasError(f"cannot write {out}: {exc.strerror or exc}") from None
        drawn = len(ep.frames) - 1 if ep.frames else len(ep.forces)
        lines = [f"{out}: {said}, the first {drawn:,} drawn"]
    if genome.get("kind") == "neat":
        topology = out.with_name(f"{out.stem}-topology.png")
        draw_topology(genome["genome"], topology)
        lines.append(f"{topology}: the network")
    return lines


def save_frames(frames: list, out: Path, fps: float) -> Path:
    """Rendered frames as a GIF (scaled to GIF_WIDTH) or a filmstrip PNG of FILMSTRIP."""
    from PIL import Image

    images = [Image.fromarray(f).convert("RGB") for f in frames]
    w, h = images[0].size
    size = (GIF_WIDTH, max(1, round(h * GIF_WIDTH / w)))
    if out.suffix == ".gif":
        small = [im.resize(size) for im in images]
        small[0].save(out, save_all=True, append_images=small[1:], loop=0,
                      duration=max(20, round(1000 / fps)))
    else:
        picks = sorted({round(i * (len(images) - 1) / (FILMSTRIP - 1)) for i in range(FILMSTRIP)})
        strip = Image.new("RGB", (size[0] * len(picks), size[1]), "white")
        for k, i in enumerate(picks):
            strip.paste(images[i].resize(size), (k * size[0], 0))
        strip.save(out)
    return out


def _draw(ax, task, state, force, step):
    from matplotlib.patches import Rectangle

    ax.clear()
    limit = task.track_limit
    x = state[task.cart_index]
    ax.set_xlim(-limit - 0.5, limit + 0.5)
    ax.set_ylim(-0.4, 1.4)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.plot([-limit, limit], [0, 0], color="0.4", lw=1)
    ax.add_patch(Rectangle((x - 0.25, -0.08), 0.5, 0.16, color="C0"))
    for i, (index, half) in enumerate(task.poles):
        theta = state[index]
        ax.plot([x, x + 2 * half * math.sin(theta)],
                [0.08, 0.08 + 2 * half * math.cos(theta)], color=f"C{i + 1}", lw=4)
    ax.arrow(x, -0.25, 0.04 * force, 0, width=0.03, color="C3", length_includes_head=True)
    ax.set_title(f"step {step}   force {force:+.1f} N", fontsize=9)


def render(task, states, forces, out: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter

    forces = forces + [0.0] * (len(states) - len(forces))
    if out.suffix == ".gif":
        fig, ax = plt.subplots(figsize=(5, 2.6))
        anim = FuncAnimation(fig, lambda i: _draw(ax, task, states[i], forces[i], i), frames=len(states))
        from tqdm import tqdm

        with tqdm(total=len(states), desc=f"drawing {out.name}", unit="frame", leave=False,
                  mininterval=0.5) as bar:  # a few hundred matplotlib frames take a while
            anim.save(out, writer=PillowWriter(fps=25), progress_callback=lambda i, n: bar.update(1))
    elif out.suffix == ".png":
        picks = sorted({round(i * (len(states) - 1) / (FILMSTRIP - 1)) for i in range(FILMSTRIP)})
        fig, axes = plt.subplots(1, len(picks), figsize=(2.2 * len(picks), 1.8))
        for ax, i in zip(list(axes) if len(picks) > 1 else [axes], picks):
            _draw(ax, task, states[i], forces[i], i)
        fig.tight_layout()
        fig.savefig(out, dpi=100)
    else:
        raise NasError(f"--out must end in .gif or .png, got {out.name!r}")
    plt.close(fig)
    return out


def _layers(genome: dict) -> dict[int, int]:
    """Column of each node for drawing: inputs at 0, outputs last, hidden nodes by the
    longest path from an input over enabled connections (recurrent edges ignored)."""
    kinds = {n["id"]: n["type"] for n in genome["nodes"]}
    edges = [(c["in"], c["out"]) for c in genome["connections"] if c["enabled"]]
    depth = {n: 0 for n in kinds}
    for _ in range(len(kinds)):  # Bellman-Ford style relaxation, bounded
        changed = False
        for a, b in edges:
            if kinds[b] == "hidden" and depth[a] + 1 > depth[b] and depth[a] + 1 < len(kinds):
                depth[b], changed = depth[a] + 1, True
        if not changed:
            break
    last = max([d for n, d in depth.items() if kinds[n] == "hidden"], default=0) + 1
    return {n: (last if kinds[n] == "output" else depth[n]) for n in kinds}


def draw_topology(genome: dict, out: Path) -> Path:
    """The evolved NEAT network: nodes by layer, edges by sign and size of weight."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    column = _layers(genome)
    rows: dict[int, int] = {}
    pos = {}
    for node in sorted(column, key=lambda n: (column[n], n)):
        rows[column[node]] = rows.get(column[node], 0) + 1
        pos[node] = (column[node], rows[column[node]])
    fig, ax = plt.subplots(figsize=(6, 4))
    for c in genome["connections"]:
        if not c["enabled"]:
            continue
        (x0, y0), (x1, y1) = pos[c["in"]], pos[c["out"]]
        ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(
            arrowstyle="->", color="C3" if c["weight"] < 0 else "C0",
            lw=0.5 + min(3.0, abs(c["weight"])), alpha=0.7,
            connectionstyle="arc3,rad=0.3" if x1 <= x0 else "arc3,rad=0.0"))
    colours = {"input": "0.6", "hidden": "C2", "output": "C1"}
    kinds = {n["id"]: n["type"] for n in genome["nodes"]}
    for node, (x, y) in pos.items():
        ax.scatter([x], [y], s=300, color=colours[kinds[node]], zorder=3)
        ax.text(x, y, str(node), ha="center", va="center", fontsize=7, zorder=4)
    ax.set_title(f"{len(pos)} nodes, {sum(c['enabled'] for c in genome['connections'])} enabled "
                 "connections (blue +, red -)", fontsize=9)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
