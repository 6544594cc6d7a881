"""`nas replay`: rebuild a stored best genome and draw an episode of its task.

An animated GIF (matplotlib + Pillow) or a filmstrip PNG: the cart on its track, the
poles, and the force the network applies at each step.
"""
from __future__ import annotations

import math
from pathlib import Path

from nas.errors import NasError
from nas.store import Store

MAX_FRAMES = 400
FILMSTRIP = 8


def load_genome(store: Store, name: str, trial: int | None, seed: int | None) -> tuple[dict, int, int]:
    row = store.require_study(name)
    found = store.best_genome(row.optuna_study_id, trial, seed)
    if found is None:
        what = f"trial {trial}" if trial is not None else "any trial"
        raise NasError(f"no stored genome for {what} of study {name!r}"
                       + (f" and seed {seed}" if seed is not None else ""))
    return found


def episode(task_name: str, genome: dict, seed: int) -> tuple[object, list, list, int]:
    """The task, the first MAX_FRAMES states and forces, and the whole episode's length."""
    import torch

    from nas.evolution.modes import policy_from_genome
    from nas.evolution.tasks import get_task

    task = get_task(task_name)
    policy = policy_from_genome(genome)
    start = task.initial_states(torch.Generator().manual_seed(seed), 1)
    with torch.inference_mode():
        states, forces, steps = task.trace(policy, start[0], task.max_steps, MAX_FRAMES)
    return task, states, forces, steps


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
        anim.save(out, writer=PillowWriter(fps=25))
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
