"""Any Gymnasium environment as a task: `-t gym:ENV_ID`, evaluated on Gymnasium's vector API.

    episodes     one sub-environment per individual episode. Environments with a native
                 vectorized implementation (CartPole: `vectorization_mode="vector_entry_point"`)
                 use it; the others run as a `SyncVectorEnv` in the worker's own process (a
                 worker is already one of many processes, and its thread cap holds).
    starts       a start is (seed s, index i, size N): sub-environment i of a vector env of N
                 reset with `reset(seed=s)`, Gymnasium's own convention (a SyncVectorEnv seeds
                 sub-env i with s + i; a native one draws every sub-env from one RNG seeded
                 with s). `initial_states(generator, n)` draws s from the torch generator and
                 returns (s, 0..n-1, n), so a seed's episodes depend on its generator alone.
    autoreset    every sub-env keeps its default autoreset (NEXT_STEP); an episode ends at its
                 first `terminated or truncated`, its row leaves the batch (`policy.keep`) and
                 whatever its sub-env does afterwards is never counted.
    observation  Box: flattened; Discrete: one-hot. Networks get float64 tensors (as the
                 built-in tasks' states) and cast them to their own dtype.
    action       Discrete(n): one output per action, argmax (first on ties), + start.
                 Box: one output per element, tanh then scaled to [low, high] where both bounds
                 are finite (raw output where a bound is infinite). NaN outputs count as 0.
    fitness      the undiscounted episode return.
    solved       return >= the spec's `reward_threshold` (per episode, not Gymnasium's mean over
                 100); target_fitness is that threshold, or None (no solved criterion: the
                 metric falls back to fitness) where the spec has none.
    limit        the spec's `max_episode_steps` (its TimeLimit), else UNLIMITED_STEPS.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch

from nas.errors import NasError
from nas.evolution.tasks.base import Policy, Task
from nas.evolution.tasks.declaration import one_line

UNLIMITED_STEPS = 1_000  # episode cap for environments whose spec sets no max_episode_steps
SEED_LIMIT = 2 ** 31 - 1
INSTALL_HINT = "pip install 'nas[gym]' (and 'nas[mujoco]' for MuJoCo environments)"


def _gymnasium():
    try:
        import gymnasium
    except ImportError:
        raise NasError(f"gym: tasks need Gymnasium: {INSTALL_HINT}") from None
    return gymnasium


def gym_task_class(env_id: str) -> type["GymTask"]:
    """A GymTask subclass for one environment: its sizes and limits read from a probe env."""
    gym = _gymnasium()
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as exc:
        raise NasError(f"unknown Gymnasium environment {env_id!r}: {' '.join(str(exc).split())}") from None
    except Exception as exc:  # a module-qualified id whose module fails to import
        raise NasError(f"unknown Gymnasium environment {env_id!r}: {one_line(exc)}") from None
    probe = _make(gym, env_id)
    try:
        obs_space, act_space = probe.observation_space, probe.action_space
        fps = probe.metadata.get("render_fps") or 25
    finally:
        probe.close()
    threshold = spec.reward_threshold
    return type(f"GymTask[{env_id}]", (GymTask,), {
        "name": f"gym:{env_id}", "env_id": env_id,
        "native": spec.vector_entry_point is not None,
        "obs_space": obs_space, "act_space": act_space,
        "obs_size": _obs_size(env_id, obs_space), "act_size": _act_size(env_id, act_space),
        "max_steps": int(spec.max_episode_steps or UNLIMITED_STEPS),
        "target_fitness": None if threshold is None else float(threshold),
        "render_fps": float(fps),
    })


def _make(gym, env_id: str, **kwargs):
    try:
        return gym.make(env_id, **kwargs)
    except (ImportError, gym.error.DependencyNotInstalled) as exc:
        raise NasError(f"cannot make Gymnasium environment {env_id!r}: {one_line(exc)}; "
                       f"{INSTALL_HINT}") from None
    except Exception as exc:
        raise NasError(f"cannot make Gymnasium environment {env_id!r}: {one_line(exc)}") from None


def _obs_size(env_id, space) -> int:
    from gymnasium import spaces

    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape))
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    raise NasError(f"gym:{env_id}: observation space {space} is not supported (Box or Discrete)")


def _act_size(env_id, space) -> int:
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        return int(space.n)
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape))
    raise NasError(f"gym:{env_id}: action space {space} is not supported (Discrete or Box)")


@dataclass
class _Batch:
    """One vector env of this call and the batch rows it plays: row rows[k] is its sub-env cols[k]."""
    env: object
    rows: np.ndarray
    cols: np.ndarray
    seed: int | list[int]
    idle: np.ndarray  # the action sent to sub-envs whose episode is over or that no row plays


class GymTask(Task):
    """One Gymnasium environment (subclassed per id by `gym_task_class`; see the module doc)."""

    env_id: str
    native: bool
    obs_space: object
    act_space: object
    state_size = 3  # (seed, index, size): see the module docstring
    dtype = torch.float64

    def __init__(self):
        self._pool: dict[int, list] = {}  # num_envs -> vector envs kept between generations

    # --- the Task contract -----------------------------------------------------------------
    def initial_states(self, generator: torch.Generator, n: int) -> torch.Tensor:
        seed = int(torch.randint(0, SEED_LIMIT - n, (1,), generator=generator))
        return torch.stack((torch.full((n,), seed), torch.arange(n), torch.full((n,), n)), 1)

    def solved(self, fitness: torch.Tensor) -> torch.Tensor:
        if self.target_fitness is None:
            return torch.zeros_like(fitness, dtype=torch.bool)
        return fitness >= self.target_fitness

    def evaluate(self, policy: Policy, starts: torch.Tensor) -> torch.Tensor:
        """Episode returns, one episode per row, every episode at once."""
        returns, _, _ = self._run(policy, starts, self._batches(starts))
        return returns.to(starts.device)

    def film(self, policy: Policy, start: torch.Tensor, max_frames: int) -> tuple[list, int, float]:
        """One episode rendered (`render_mode="rgb_array"`): (its first `max_frames` frames (the
        start's, then one per step), its
        length in steps, its return). MuJoCo renders headless through EGL unless MUJOCO_GL
        says otherwise."""
        if "DISPLAY" not in os.environ:
            os.environ.setdefault("MUJOCO_GL", "egl")
        starts = start.reshape(1, -1)
        batches = self._batches(starts, render=True)
        frames: list = []
        try:
            returns, steps, _ = self._run(policy, starts, batches, frames, max_frames)
        finally:
            for b in batches:
                b.env.close()
        return frames, int(steps[0]), float(returns[0])

    def close(self) -> None:
        for envs in self._pool.values():
            for env in envs:
                env.close()
        self._pool.clear()

    # --- episodes ---------------------------------------------------------------------------
    def _run(self, policy, starts, batches, frames=None, max_frames=0):
        """Step every batch until each row's episode is over: (returns, steps, batches)."""
        n, device = len(starts), starts.device  # the policy's device (run_evolution's --device)
        obs = np.zeros((n, self.obs_size))
        for b in batches:
            o, _ = b.env.reset(seed=b.seed)
            obs[b.rows] = self._flat(o)[b.cols]
        if frames is not None:
            self._frame(batches[0], frames, max_frames)
        returns, steps, running = np.zeros(n), np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
        where = np.zeros(n, dtype=np.int64)
        for _ in range(self.max_steps):
            alive = np.flatnonzero(running)
            actions = self._actions(policy(torch.from_numpy(obs[alive]).to(device)).cpu())
            where[alive] = np.arange(len(alive))
            ended = np.zeros(n, dtype=bool)
            for b in batches:
                live = running[b.rows]
                if not live.any():
                    continue
                rows, cols = b.rows[live], b.cols[live]
                act = b.idle.copy()
                act[cols] = actions[where[rows]]
                o, reward, terminated, truncated, _ = b.env.step(act)
                returns[rows] += reward[cols]
                obs[rows] = self._flat(o)[cols]
                ended[rows] = (terminated | truncated)[cols]
            if frames is not None:
                self._frame(batches[0], frames, max_frames)
            steps[alive] += 1
            if ended.any():
                survivors = np.flatnonzero(~ended[alive])
                running &= ~ended
                if len(survivors) == 0:
                    break
                policy.keep(torch.from_numpy(survivors).to(device))
        return torch.from_numpy(returns), steps, batches

    @staticmethod
    def _frame(batch: _Batch, frames: list, max_frames: int) -> None:
        if len(frames) < max_frames:
            shots = batch.env.render()
            frames.append(np.asarray(shots[int(batch.cols[0])]))

    def _flat(self, o) -> np.ndarray:
        o = np.asarray(o)
        if hasattr(self.obs_space, "n"):  # Discrete: one-hot
            return np.eye(self.obs_size)[o.astype(np.int64) - int(self.obs_space.start)]
        return o.reshape(len(o), -1).astype(np.float64)

    def _actions(self, out: torch.Tensor) -> np.ndarray:
        space = self.act_space
        if hasattr(space, "n"):  # Discrete
            pick = torch.nan_to_num(out.double(), nan=-math.inf).argmax(1)
            return (pick.numpy() + int(space.start)).astype(space.dtype)
        u = torch.nan_to_num(out.double(), nan=0.0).numpy().reshape(len(out), *space.shape)
        low, high = space.low.astype(np.float64), space.high.astype(np.float64)
        bounded = np.isfinite(low) & np.isfinite(high)
        scaled = np.where(bounded, low + (np.tanh(u) + 1.0) * 0.5 * (high - low), u)
        return scaled.astype(space.dtype)

    def _idle(self, size: int) -> np.ndarray:
        space = self.act_space
        if hasattr(space, "n"):
            return np.full(size, int(space.start), dtype=space.dtype)
        low, high = space.low.astype(np.float64), space.high.astype(np.float64)
        mid = np.where(np.isfinite(low) & np.isfinite(high), (low + high) / 2, 0.0)
        return np.broadcast_to(mid, (size, *space.shape)).astype(space.dtype)

    # --- vector environments ----------------------------------------------------------------
    def _batches(self, starts: torch.Tensor, render: bool = False) -> list[_Batch]:
        """Map rows to sub-environments: native envs one vector env per (seed, size) (a
        repeated start gets its own copy), the others one SyncVectorEnv for every row."""
        s = starts.detach().cpu().long().reshape(len(starts), -1)
        if s.shape[1] != 3 or bool((s[:, 1] >= s[:, 2]).any()) or bool((s < 0).any()):
            raise NasError(f"{self.name}: starts must be (seed, index < size, size) rows from "
                           "initial_states")
        seeds, index, size = (s[:, k].numpy() for k in range(3))
        if not self.native:
            if not render:
                self._trim({len(s)})
            env = self._vector(len(s), "sync", render, 0)
            rows = np.arange(len(s))
            return [_Batch(env, rows, rows, [int(a + b) for a, b in zip(seeds, index)],
                           self._idle(len(s)))]
        groups: dict[tuple[int, int, int], list[int]] = {}
        seen: dict[tuple[int, int, int], int] = {}
        for row, key in enumerate(zip(seeds.tolist(), index.tolist(), size.tolist())):
            copy = seen[key] = seen.get(key, -1) + 1
            groups.setdefault((key[0], key[2], copy), []).append(row)
        used: dict[int, int] = {}
        batches = []
        for (seed, n_envs, _), rows in groups.items():
            env = self._vector(n_envs, "vector_entry_point", render, used.get(n_envs, 0))
            used[n_envs] = used.get(n_envs, 0) + 1
            rows = np.array(rows)
            batches.append(_Batch(env, rows, index[rows], seed, self._idle(n_envs)))
        if not render:
            self._trim(set(used))
        return batches

    def _trim(self, sizes: set[int]) -> None:
        """Close pooled envs of sizes this call does not use (seeds that stopped shrink the
        batch for good), so a worker holds one generation's envs, not every size seen."""
        for n_envs in [k for k in self._pool if k not in sizes]:
            for env in self._pool.pop(n_envs):
                env.close()

    def _vector(self, n_envs: int, mode: str, render: bool, nth: int):
        """The nth pooled vector env of n_envs sub-envs (a fresh one to render)."""
        gym = _gymnasium()
        if render:
            return gym.make_vec(self.env_id, num_envs=n_envs, vectorization_mode=mode,
                                render_mode="rgb_array")
        pool = self._pool.setdefault(n_envs, [])
        while len(pool) <= nth:
            pool.append(gym.make_vec(self.env_id, num_envs=n_envs, vectorization_mode=mode))
        return pool[nth]

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the envs go with the process
            pass
