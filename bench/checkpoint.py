"""Checkpoint cost: bytes per checkpoint, milliseconds to capture, to write to PostgreSQL
(the lineage's row replaced, as a worker does) and to restore, the capture as a share of
one generation, and capture + write as a share of the default checkpoint interval (the
cost a trial pays), for the largest pure networks of the search space and for NEAT after
its genomes have grown (nas.evolution.checkpoint).

    pure   GA and CoSyNE, population x seeds on double-pole, Elman hidden 32,32,32 (the
           space's largest network: nas.sizing.max_pure_params), captured after
           --generations generations
    neat   double-pole, population --neat-population, captured after --neat-generations
Besides the stored (zlib level 1) size, the payload's size under zlib 6 and lzma 1 shows
why zlib 1: float mantissas do not compress, so slower codecs buy little.
Run: python bench/checkpoint.py [--population 500 --seeds 3 --neat-population 150]
"""
from __future__ import annotations

import argparse
import lzma
import time
import zlib

from _support import parse_args, throwaway_postgres

from nas.evolution import checkpoint, run_evolution
from nas.evolution.catalog import MAX_HIDDEN_LAYERS, MAX_UNITS
from nas.evolution.config import EvolutionConfig
from nas.defaults import checkpoint_seconds
from nas.sizing import max_pure_params
from nas.spec import StudySpec
from nas.store import Store


class Stop(Exception):
    pass


def measure(config: dict, generations: int, seeds: list[int]) -> dict:
    found = {}

    def at_last(g, so):
        if g < generations - 1:
            return
        found["generation_s"] = sum(s.seconds for s in so.seeds) / (g + 1)  # wall per generation
        started = time.perf_counter()
        found["blob"] = so.checkpoint()
        found["capture_s"] = time.perf_counter() - started
        raise Stop

    try:
        run_evolution(config, generations, seeds, stop_when_solved=False, on_generation=at_last)
    except Stop:
        pass
    blob = found["blob"]
    key = checkpoint.identity(EvolutionConfig.from_dict(config), seeds, generations, None, False)
    started = time.perf_counter()
    checkpoint.restore(blob, key, len(seeds))
    found["restore_s"] = time.perf_counter() - started
    raw = zlib.decompress(blob[checkpoint.HEADER.size:])
    found["raw"], found["zlib6"] = len(raw), len(zlib.compress(raw, 6))
    found["lzma1"] = len(lzma.compress(raw, preset=1))
    return found


def write(store: Store, study_id: int, lineage: int, found: dict) -> None:
    """Time the replacement of a lineage's row (the first write inserts it)."""
    for generation in (1, 2):
        started = time.perf_counter()
        store.save_checkpoint(study_id, lineage, lineage, generation, "bench", [], found["blob"])
        found["write_s"] = time.perf_counter() - started


def row(name: str, size: str, f: dict) -> str:
    share = f["capture_s"] / f["generation_s"] * 100
    interval = (f["capture_s"] + f["write_s"]) / checkpoint_seconds() * 100
    return (f"{name:<7} {size:>16} {f['raw']:>12,} {len(f['blob']):>12,} {f['zlib6']:>12,} "
            f"{f['lzma1']:>12,} {f['capture_s'] * 1e3:>10.1f} {f['write_s'] * 1e3:>10.1f} "
            f"{f['restore_s'] * 1e3:>10.1f} {f['generation_s'] * 1e3:>10.1f} {share:>7.1f}% "
            f"{interval:>7.2f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--neat-population", type=int, default=150)
    parser.add_argument("--neat-generations", type=int, default=20)
    args = parse_args(parser, smoke={"population": 20, "seeds": 1, "generations": 1,
                                     "neat_population": 20, "neat_generations": 2})
    seeds = list(range(args.seeds))
    hidden = [MAX_UNITS] * MAX_HIDDEN_LAYERS
    print(f"checkpoint: double-pole, {args.seeds} seeds; pure hidden {hidden} elman "
          f"({max_pure_params(7, 1):,} params); interval {checkpoint_seconds():g} s")
    print(f"{'kind':<7} {'population':>16} {'payload B':>12} {'stored B':>12} {'zlib 6 B':>12} "
          f"{'lzma 1 B':>12} {'capture ms':>10} {'write ms':>10} {'restore ms':>10} {'gen ms':>10} "
          f"{'of gen':>8} {'of int.':>8}")
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with throwaway_postgres(fsync="on") as url:  # a write as durable as in production
        store = Store(url)
        store.upgrade()
        study, _ = store.create_or_resume_study("bench", StudySpec(budget=1))
        for lineage, algorithm in enumerate(("ga", "cosyne")):
            config = {"task": "double-pole", "population": args.population, "hidden": hidden,
                      "recurrent": "elman", "algorithm": algorithm}
            found = measure(config, args.generations, seeds)
            write(store, study.id, lineage, found)
            print(row(algorithm, f"{args.population} x {args.seeds}", found))
        config = {"task": "double-pole", "mode": "neat", "population": args.neat_population}
        found = measure(config, args.neat_generations, seeds)
        write(store, study.id, 2, found)
        print(row("neat", f"{args.neat_population} x {args.seeds}", found) +
              f"  after {args.neat_generations} generations")

if __name__ == "__main__":
    main()
