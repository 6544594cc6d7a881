"""`nas replay`: rebuild a stored best genome and draw an episode of its task.

An animated GIF (matplotlib + Pillow) or a filmstrip PNG: the cart on its track, the
poles, and the force the network applies at each step.
"""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from nas.errors import NasError
from nas.store import studies
from nas.store.session import session_scope

MAX_FRAMES = 400
FILMSTRIP = 8


def load_genome(url: str, name: str, trial: int | None, seed: int | None) -> tuple[dict, int, int]:
    row = studies.require(url, name)
    with session_scope(url) as session:
        found = session.execute(sa.text("""
            SELECT t.number, g.seed, g.genome FROM nas.genomes g JOIN trials t ON t.trial_id = g.trial_id
            LEFT JOIN trial_values v ON v.trial_id = t.trial_id
            WHERE t.study_id = :s AND (:n IS NULL OR t.number = :n) AND (:seed IS NULL OR g.seed = :seed)
            ORDER BY v.value DESC NULLS LAST, g.fitness DESC LIMIT 1"""),
            {"s": row.optuna_study_id, "n": trial, "seed": seed}).first()
    if found is None:
        what = f"trial {trial}" if trial is not None else "any trial"
        raise NasError(f"no stored genome for {what} of study {name!r}"
                       + (f" and seed {seed}" if seed is not None else ""))
    return found.genome, found.number, found.seed


def episode(task_name: str, genome: dict, seed: int) -> tuple[object, list, list]:
    import torch

    from nas.evolution.modes import policy_from_genome
    from nas.evolution.tasks import get_task

    task = get_task(task_name)
    policy = policy_from_genome(genome)
    start = task.initial_states(torch.Generator().manual_seed(seed), 1)
    states, forces = task.trace(policy, start[0], MAX_FRAMES)
    return task, states, forces


def _draw(ax, task, state, force, step):
    ax.clear()
    limit = task.track_limit
    x = state[task.cart_index]
    ax.set_xlim(-limit - 0.5, limit + 0.5)
    ax.set_ylim(-0.4, 1.4)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.plot([-limit, limit], [0, 0], color="0.4", lw=1)
    ax.add_patch(__import__("matplotlib").patches.Rectangle((x - 0.25, -0.08), 0.5, 0.16, color="C0"))
    for i, (index, half) in enumerate(task.poles):
        theta = state[index]
        ax.plot([x, x + 2 * half * __import__("math").sin(theta)],
                [0.08, 0.08 + 2 * half * __import__("math").cos(theta)], color=f"C{i + 1}", lw=4)
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
