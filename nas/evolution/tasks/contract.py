"""The `Task` contract, checked: what nas relies on when it evaluates your task.

    check_declaration(cls)   class attributes and overrides (cheap; run at study creation
                             and worker start for every `-t package.module:Class`;
                             nas.evolution.tasks.declaration)
    check_task(task)         everything, with short episodes (`nas task check REF`, or call it
                             from your own tests); returns the checks passed, raises
                             ContractError (one line) at the first violation

What `check_task` runs, with `rows` episodes driven by `Probe` (a small random controller per
row, in float64 elementwise arithmetic so no row's output depends on the batch, that from its
row's own step on pushes flat out so that episodes end at different steps where they can):

    initial states   a tensor of `rows` rows, identical for two generators with one seed
    observe / step   (tasks that implement them) [rows, obs_size] finite floats; step
                     returns (state of `rows` rows, bool [rows]) and leaves its input intact
    evaluate         float [rows], no NaN, inside fitness_range; identical when repeated;
                     the policy only ever sees the rows still running, and `keep` gets valid
                     indices into them
    rows drop out    each row scores, and runs as many steps, in the full batch as alone
    failed stays     (tasks that implement step) evaluate stops a row exactly at the step
      failed         where step() first reports it failed, never earlier, never later
    solved           a bool mask of fitness's shape
"""
from __future__ import annotations

from typing import Callable

import torch

from nas.evolution.tasks.base import Task
from nas.evolution.tasks.declaration import (ContractError, check_declaration, instantiate,
                                             one_line, overrides, task_label)

GIVE_UP = (0, 4, 16, 64, 2 ** 62, 2 ** 62, 2 ** 62, 2 ** 62)  # per row (cycled): when it pushes flat out
FLAT_OUT = 50.0
DROP_TRIES = 4  # batches of probe controllers tried until some rows end before others


class Probe:
    """A `Policy` that checks how the task drives it and counts each row's steps.

    Row r is a random affine controller with a little memory (out = W_r x + b_r +
    0.5 tanh(previous out), x = obs divided per feature by the largest |obs| the row has
    seen, so small-valued features such as a velocity count too); from step GIVE_UP[r] on
    it outputs FLAT_OUT on every action.
    Arithmetic is float64 and elementwise, so a row's outputs never depend on the batch."""

    def __init__(self, task: Task, n: int, seed: int, fail: Callable[[str], None],
                 select: slice | None = None):
        """The controllers of a batch of n rows (seeded), or of the rows `select` of it."""
        g = torch.Generator().manual_seed(seed)
        self.w = torch.randn(n, task.obs_size, task.act_size, generator=g, dtype=torch.float64)
        self.b = torch.randn(n, task.act_size, generator=g, dtype=torch.float64)
        self.give_up = torch.tensor([GIVE_UP[i % len(GIVE_UP)] for i in range(n)])
        if select is not None:
            self.w, self.b, self.give_up = self.w[select], self.b[select], self.give_up[select]
        m = len(self.w)
        self.memory = torch.zeros(m, task.act_size, dtype=torch.float64)
        self.scale = torch.zeros(m, task.obs_size, dtype=torch.float64)
        self.rows = torch.arange(m)  # the original row of each row still in the batch
        self.steps = torch.zeros(m, dtype=torch.long)  # calls per original row
        self.obs_size, self.fail = task.obs_size, fail

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        if not isinstance(obs, torch.Tensor) or obs.shape != (len(self.rows), self.obs_size):
            shape = tuple(obs.shape) if isinstance(obs, torch.Tensor) else type(obs).__name__
            self.fail(f"the policy got observations of shape {shape}, expected "
                      f"({len(self.rows)}, {self.obs_size}): one row per episode still running")
        if not obs.dtype.is_floating_point or not bool(torch.isfinite(obs).all()):
            self.fail(f"observations must be finite floats, got {obs.dtype} with non-finite values"
                      if obs.dtype.is_floating_point else f"observations must be floats, got {obs.dtype}")
        x, w = obs.to(torch.float64), self.w[self.rows]
        self.scale = torch.maximum(self.scale, x.abs())
        x = x / self.scale.clamp_min(1e-12)  # each feature on the scale it has shown so far
        out = self.b[self.rows] + 0.5 * torch.tanh(self.memory)
        for k in range(self.obs_size):
            out = out + x[:, k:k + 1] * w[:, k]
        self.memory = out
        pushing = (self.steps[self.rows] >= self.give_up[self.rows]).unsqueeze(1)
        self.steps[self.rows] += 1
        return torch.where(pushing, torch.full_like(out, FLAT_OUT), out).to(torch.float32)

    def keep(self, rows) -> None:
        rows = torch.as_tensor(rows)
        n = len(self.rows)
        if rows.dtype not in (torch.int64, torch.int32) or rows.dim() != 1:
            self.fail(f"keep() needs a 1-D tensor of row indices, got {rows.dtype} {tuple(rows.shape)}")
        if len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= n):
            self.fail(f"keep() got indices outside the {n} rows still running: {rows.tolist()}")
        if len(set(rows.tolist())) != len(rows):
            self.fail(f"keep() got repeated indices: {rows.tolist()}")
        rows = rows.long()
        self.rows, self.memory, self.scale = self.rows[rows], self.memory[rows], self.scale[rows]


def check_task(task, rows: int = 8, seed: int = 0) -> list[str]:
    """Run the whole contract on a Task subclass, an instance or a `-t` name; the checks passed."""
    label = task if isinstance(task, str) else task_label(task)
    if isinstance(task, str):
        from nas.evolution.tasks import task_class

        task = task_class(task)
    cls = task if isinstance(task, type) else type(task)
    check_declaration(cls, label)
    task = instantiate(cls, label) if isinstance(task, type) else task

    def fail(rule: str):
        raise ContractError(f"task {label!r} breaks the Task contract: {rule}")

    passed = ["declaration: sizes, limits, flags and methods"]
    starts = _check_starts(task, rows, seed, fail)
    passed.append(f"initial_states: {rows} rows, the same for the same generator seed")
    stepwise = overrides(cls, "observe") and overrides(cls, "step")
    if stepwise:
        _check_step(task, starts, fail)
        passed.append("observe and step: shapes, dtypes, input left intact, deterministic")
    together, probe = _evaluate(task, starts, seed, fail)
    _check_repeatable(task, starts, seed, together, probe, fail)
    passed.append("evaluate: float fitness per row, no NaN, inside fitness_range, deterministic")
    dropped = _check_dropping(task, starts, seed, together, probe, stepwise, fail)
    passed.append("rows that drop out mid-episode: every row scores and runs as if alone"
                  + ("" if dropped else f" (no row ended before another in {DROP_TRIES} "
                                        "batches: dropping untested)"))
    if stepwise:
        passed.append("failed episodes stay failed: evaluate stops a row where step() fails it")
    _check_solved(task, together, fail)
    passed.append("solved: a bool mask of fitness's shape")
    return passed


def _call(fail, what: str, func, *args):
    try:
        return func(*args)
    except ContractError:
        raise
    except Exception as exc:
        fail(f"{what} raised {one_line(exc)}")


def _check_starts(task, rows, seed, fail) -> torch.Tensor:
    a = _call(fail, "initial_states", task.initial_states, torch.Generator().manual_seed(seed), rows)
    b = _call(fail, "initial_states", task.initial_states, torch.Generator().manual_seed(seed), rows)
    if not isinstance(a, torch.Tensor) or a.dim() < 1 or len(a) != rows:
        fail(f"initial_states(generator, {rows}) must return a tensor of {rows} rows, got "
             f"{tuple(a.shape) if isinstance(a, torch.Tensor) else type(a).__name__}")
    if not torch.equal(a, b):
        fail("initial_states differs for two generators with the same seed")
    return a


def _check_step(task, starts, fail) -> None:
    n = len(starts)
    state = starts.to(task.dtype)
    obs = _call(fail, "observe", task.observe, state)
    if not isinstance(obs, torch.Tensor) or obs.shape != (n, task.obs_size):
        fail(f"observe must return [{n}, obs_size={task.obs_size}], got "
             f"{tuple(obs.shape) if isinstance(obs, torch.Tensor) else type(obs).__name__}")
    if not obs.dtype.is_floating_point or not bool(torch.isfinite(obs).all()):
        fail(f"observe must return finite floats, got {obs.dtype}")
    before = state.clone()
    output = torch.linspace(-1, 1, n * task.act_size).reshape(n, task.act_size).float()
    result = _call(fail, "step", task.step, state, output)
    if not (isinstance(result, tuple) and len(result) == 2):
        fail("step must return (next_state, failed)")
    nxt, failed = result
    if not isinstance(nxt, torch.Tensor) or len(nxt) != n:
        fail(f"step's next_state must be a tensor of {n} rows")
    if not isinstance(failed, torch.Tensor) or failed.shape != (n,) or failed.dtype != torch.bool:
        fail(f"step's failed must be a bool tensor of shape ({n},), got "
             f"{failed.dtype if isinstance(failed, torch.Tensor) else type(failed).__name__}")
    if not torch.equal(state, before):
        fail("step changed its input state in place (evaluate keeps references to it)")
    again, failed_again = task.step(before.clone(), output)
    if not (torch.equal(again, nxt) and torch.equal(failed_again, failed)):
        fail("step gives different results for the same state and output")


def _evaluate(task, starts, seed, fail, select: slice | None = None,
              total: int | None = None) -> tuple[torch.Tensor, Probe]:
    """Evaluate `starts` under the probe controllers (rows `select` of a batch of `total`)."""
    n = len(starts)
    probe = Probe(task, total or n, seed + 1, fail, select)
    with torch.inference_mode():
        fitness = _call(fail, "evaluate", task.evaluate, probe, starts.clone())
    if not (isinstance(fitness, torch.Tensor) and fitness.shape == (n,)
            and fitness.dtype.is_floating_point):
        got = (f"{fitness.dtype} {tuple(fitness.shape)}" if isinstance(fitness, torch.Tensor)
               else type(fitness).__name__)
        fail(f"evaluate must return a float tensor of shape ({n},), got {got}")
    if bool(torch.isnan(fitness).any()):
        fail(f"evaluate returned NaN fitness: {fitness.tolist()}")
    low, high = task.fitness_range
    if not bool(((fitness >= low) & (fitness <= high)).all()):
        fail(f"fitness {fitness.tolist()} leaves fitness_range {task.fitness_range}")
    return fitness, probe


def _check_repeatable(task, starts, seed, together, probe, fail) -> None:
    again, probe2 = _evaluate(task, starts, seed, fail)
    if not (torch.equal(together, again) and torch.equal(probe.steps, probe2.steps)):
        fail(f"evaluate is not deterministic: {together.tolist()} then {again.tolist()}")


def _check_dropping(task, starts, seed, together, probe, stepwise, fail) -> bool:
    """Alone == batched (and, step-wise, stopped where step() fails) for up to DROP_TRIES
    batches of controllers, until one has rows ending at different steps: whether one did."""
    for k in range(DROP_TRIES):
        if k:
            together, probe = _evaluate(task, starts, seed + k, fail)
        _check_alone(task, starts, seed + k, together, probe, fail)
        if stepwise:
            _check_stops_when_failed(task, starts, seed + k, probe, fail)
        if len(set(probe.steps.tolist())) > 1:
            return True
    return False


def _check_alone(task, starts, seed, together, probe, fail) -> None:
    n = len(starts)
    for i in range(n):
        alone, solo = _evaluate(task, starts[i:i + 1], seed, fail, slice(i, i + 1), n)
        if not torch.allclose(alone, together[i:i + 1], rtol=1e-12, atol=0):
            fail(f"row {i} scores {float(together[i])!r} in a batch of {n} but "
                 f"{float(alone[0])!r} alone: rows leaving the batch disturb the others")
        if int(solo.steps[0]) != int(probe.steps[i]):
            fail(f"row {i} runs {int(probe.steps[i])} steps in a batch of {n} but "
                 f"{int(solo.steps[0])} alone")


def _check_stops_when_failed(task, starts, seed, probe, fail) -> None:
    """Step each row alone with its controller until step() fails it: evaluate must have
    asked the policy exactly that many times for that row."""
    for i in range(len(starts)):
        ref = Probe(task, len(starts), seed + 1, fail, slice(i, i + 1))
        state, steps = starts[i:i + 1].to(task.dtype), task.max_steps
        with torch.inference_mode():
            for t in range(task.max_steps):
                state, failed = task.step(state, ref(task.observe(state)))
                if bool(failed[0]):
                    steps = t + 1
                    break
        if steps != int(probe.steps[i]):
            fail(f"row {i}: step() fails it at step {steps} but evaluate ran it "
                 f"{int(probe.steps[i])} steps (a failed episode must stop, and only then)")


def _check_solved(task, fitness, fail) -> None:
    grid = torch.stack([fitness, fitness.flip(0)])
    mask = _call(fail, "solved", task.solved, grid)
    if not isinstance(mask, torch.Tensor) or mask.shape != grid.shape or mask.dtype != torch.bool:
        fail(f"solved(fitness) must return a bool mask of fitness's shape {tuple(grid.shape)}")
