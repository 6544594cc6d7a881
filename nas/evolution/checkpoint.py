"""Checkpoints of `run_evolution` at a generation boundary: bytes that resume the run.

What one holds (everything a run carries from one generation to the next), per seed:
    generator         the seed's torch.Generator state (every draw of the run comes from it:
                      the algorithm's, NEAT's numpy rng seeded from it each call, the tasks'
                      initial_states, gym: seeds)
    state             the algorithm state: GA / CoSyNE tensors and numbers; CMA-ES's
                      distribution (the cmaes object's own state: numpy arrays, numbers);
                      NEAT genomes
                      (genes in dict order, hidden ids, weight types), species (members,
                      records, flags), innovation / node / species counters, threshold, record
    result            the SeedResult so far (curves, best genome, evaluations, solved-at,
                      stagnation, wall-clock seconds)
    champion memory   the genome given the champion test last, and the species checked
and the index of the generation just completed. What lives outside the seeds is stateless
across generations (the modes, algorithms and NEAT operators hold parameters only; the
kernel engine holds compiled functions and constants; built-in and user tasks are asked to
give identical results for identical starts, which `nas task check` checks; a gym: task's
pooled vector envs are reset with a seed before every generation's episodes).

The format: a header (magic, format version, codec, the run's identity digest) and the
compressed payload. The identity digest covers the config, the seeds, the generations, the
stagnation limit, stop_when_solved, the format and nas's version (not the engine: the
kernel and torch engines give the same episodes). A blob that is damaged, truncated, of
another format or of another run raises CheckpointError, never a wrong result.

The payload is a pickle of plain Python data only (dicts, lists, tuples, numbers, strings,
bytes; tensors as raw bytes, float bytes split into planes so their exponents compress),
loaded by an unpickler that refuses every global: a checkpoint cannot make the loader
import or call anything, whoever wrote it.

A pure checkpoint at the search space's largest networks is mostly float mantissas,
which no codec shrinks much and which take about a generation's time to capture
(bench/checkpoint.py measures it): callers checkpoint every N seconds, not every generation.
"""
from __future__ import annotations

import hashlib
import io
import json
import lzma
import pickle
import struct
import zlib
from dataclasses import asdict, fields, is_dataclass
from typing import Any

import numpy as np
import torch

import nas
from nas.evolution.algorithms import CMAESState, CoSyNEState, GAState

MAGIC = b"NASEVOCK"
FORMAT = 1
ZLIB, LZMA = 1, 2
CODEC = ZLIB  # level 1: pure checkpoints are mostly float mantissas that nothing compresses
HEADER = struct.Struct(">8sHB32s")  # magic, format, codec, identity digest
TENSOR_STATES = {"ga": GAState, "cosyne": CoSyNEState, "cmaes": CMAESState}


class CheckpointError(Exception):
    """A checkpoint that cannot be used: damaged, of another format, or of another run."""


def identity(config, seeds: list[int], generations: int, stagnation_limit: int | None,
             stop_when_solved: bool) -> bytes:
    """The digest of what makes a run: a checkpoint resumes only the run that made it."""
    cfg = asdict(config) if is_dataclass(config) else dict(config)
    data = {"config": cfg, "seeds": [int(s) for s in seeds], "generations": int(generations),
            "stagnation_limit": stagnation_limit, "stop_when_solved": bool(stop_when_solved),
            "format": FORMAT, "nas": nas.__version__}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=list)
    return hashlib.sha256(text.encode()).digest()


# --- the blob --------------------------------------------------------------------------------
def capture(key: bytes, generation: int, runs) -> bytes:
    """The bytes of every seed's state (`runs`: run_evolution's per-seed runs) after
    `generation` completed."""
    payload = {"generation": int(generation), "seeds": [_capture_seed(r) for r in runs]}
    raw = pickle.dumps(payload, protocol=5)
    body = zlib.compress(raw, 1) if CODEC == ZLIB else lzma.compress(raw, preset=1)
    return HEADER.pack(MAGIC, FORMAT, CODEC, key) + body


def restore(blob: bytes, key: bytes, n_seeds: int) -> tuple[int, list[dict]]:
    """(the checkpoint's generation, per seed: generator, state, result, champion_tested,
    champion_checked), from bytes `capture` made for the run whose identity is `key`."""
    if not isinstance(blob, (bytes, bytearray, memoryview)) or len(blob) < HEADER.size:
        raise CheckpointError("not a checkpoint (too short)")
    magic, fmt, codec, digest = HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise CheckpointError("not a checkpoint (no header)")
    if fmt != FORMAT:
        raise CheckpointError(f"checkpoint format {fmt}, this nas reads {FORMAT}")
    if digest != key:
        raise CheckpointError("checkpoint of another run (config, seeds or limits differ)")
    try:
        raw = _decompress(codec, bytes(blob[HEADER.size:]))
        payload = _PlainUnpickler(io.BytesIO(raw)).load()
        generation, seeds = int(payload["generation"]), payload["seeds"]
        if len(seeds) != n_seeds:
            raise ValueError(f"{len(seeds)} seeds, the run has {n_seeds}")
        return generation, [_restore_seed(s) for s in seeds]
    except CheckpointError:
        raise
    except Exception as exc:  # whatever a damaged payload makes the decoders raise
        raise CheckpointError(f"damaged checkpoint: {type(exc).__name__}: {exc}") from None


def _decompress(codec: int, body: bytes) -> bytes:
    if codec == ZLIB:
        return zlib.decompress(body)
    if codec == LZMA:
        return lzma.decompress(body)
    raise CheckpointError(f"unknown checkpoint codec {codec}")


class _PlainUnpickler(pickle.Unpickler):
    """Builtin data only: any global (a class, a function) is refused."""

    def find_class(self, module, name):
        raise CheckpointError(f"checkpoint refers to {module}.{name}")


# --- one seed --------------------------------------------------------------------------------
def _capture_seed(run) -> dict:
    result = run.result
    return {"generator": _pack(run.generator.get_state()),
            "state": _pack_state(run.state),
            "result": {f.name: _plain(getattr(result, f.name)) for f in fields(result)},
            "champion_tested": _plain(run.champion_tested),
            "champion_checked": sorted(run.champion_checked)}


def _restore_seed(data: dict) -> dict:
    return {"generator": _unpack(data["generator"]), "state": _unpack_state(data["state"]),
            "result": data["result"], "champion_tested": data["champion_tested"],
            "champion_checked": set(data["champion_checked"])}


def _plain(value):
    """JSON-like data with numpy scalars made Python numbers (equal values, same bits)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot checkpoint a {type(value).__name__} in a result")


def _pack(t: torch.Tensor | np.ndarray) -> tuple:
    """A CPU tensor (or numpy array) as (dtype, shape, bytes); multi-byte elements stored byte plane by
    byte plane (all first bytes, then all second bytes...), which compresses better."""
    a = np.ascontiguousarray(t if isinstance(t, np.ndarray) else t.detach().cpu().numpy())
    planes = np.ascontiguousarray(a.reshape(-1).view(np.uint8).reshape(-1, a.itemsize).T)
    return (str(a.dtype), tuple(t.shape), planes.tobytes())  # t's: ascontiguousarray makes 0-d 1-d


def _unpack(packed: tuple) -> torch.Tensor:
    dtype, shape, data = packed
    dt = np.dtype(dtype)
    if dt.kind not in "biuf":
        raise ValueError(f"dtype {dtype} in a checkpoint")
    planes = np.frombuffer(data, np.uint8).reshape(dt.itemsize, -1)
    return torch.from_numpy(planes.T.copy().view(dt).reshape(shape))


def _pack_state(state) -> dict:
    for kind, cls in TENSOR_STATES.items():
        if type(state) is cls:
            return {"kind": kind, "fields": {f.name: _pack_value(getattr(state, f.name))
                                             for f in fields(state)}}
    from nas.evolution.neat.algorithm import NEATState

    if type(state) is NEATState:
        from nas.evolution.neat.checkpoint import pack_neat

        packed = pack_neat(state)
        packed["genomes"] = {k: _pack(v) for k, v in packed["genomes"].items()}
        return {"kind": "neat", "fields": packed}
    raise TypeError(f"no checkpoint encoding for {type(state).__name__}")


def _unpack_state(data: dict):
    if data["kind"] == "neat":
        from nas.evolution.neat.checkpoint import unpack_neat

        values = dict(data["fields"])
        values["genomes"] = {k: _unpack(v).numpy() for k, v in values["genomes"].items()}
        return unpack_neat(values)
    cls = TENSOR_STATES[data["kind"]]
    values = data["fields"]
    if set(values) != {f.name for f in fields(cls)}:
        raise ValueError(f"{cls.__name__} fields differ")
    return cls(**{k: _unpack_value(v) for k, v in values.items()})


def _pack_value(value) -> Any:
    """A state field: tensors, numbers, and (CMA-ES) dicts of numpy arrays and scalars, each
    kept with its own type so the resumed arithmetic is the same."""
    if isinstance(value, torch.Tensor):
        return ("tensor", _pack(value))
    if isinstance(value, (np.ndarray, np.generic)):
        return ("array" if isinstance(value, np.ndarray) else "scalar", _pack(np.asarray(value)))
    if isinstance(value, dict):
        return ("dict", {str(k): _pack_value(v) for k, v in value.items()})
    if value is None or type(value) in (bool, int, float):
        return ("value", value)
    raise TypeError(f"cannot checkpoint a {type(value).__name__} in an algorithm state")


def _unpack_value(value) -> Any:
    kind, data = value
    if kind == "tensor":
        return _unpack(data)
    if kind in ("array", "scalar"):
        array = _unpack(data).numpy()
        return array if kind == "array" else array[()]
    if kind == "dict":
        return {k: _unpack_value(v) for k, v in data.items()}
    if kind == "value":
        return data
    raise ValueError(f"state value of kind {kind!r}")
