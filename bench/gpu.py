"""Env-steps per second on a GPU against this machine's CPU, at 500 x 3 and 5,000 x 3.

Uses the balancing population of bench/engine.py (every episode runs its full length),
so the figure is the engine's throughput with a full batch. Finishes in a few minutes. Without a CUDA device it says so, skips the GPU columns, still measures the CPU
baseline and exits 0 (so `make bench` and `make test` run it on any machine).
Run: python bench/gpu.py [--device cuda] [--sizes 500 5000 --seeds 3]
"""
from __future__ import annotations

import argparse

import torch

from _support import parse_args
from engine import balancing_population, batched
from nas.evolution.tasks import get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--seeds", type=int, default=3)
    args = parse_args(parser, smoke={"sizes": [20], "seeds": 1})
    task = get_task("cartpole")
    gpu = args.device.startswith("cuda") and torch.cuda.is_available()
    if gpu:
        name = torch.cuda.get_device_name(torch.device(args.device))
    else:
        name = "no GPU"
        why = (f"no CUDA device on this machine (torch {torch.__version__} sees none)"
               if args.device.startswith("cuda") else f"--device {args.device} is not a CUDA device")
        print(f"gpu: {why}: skipping the GPU rows, measuring the CPU baseline only")
    print(f"gpu: pure mode, cartpole, hidden (8,), {name} vs CPU ({torch.get_num_threads()} threads)")
    print(f"{'individuals':>12} {'cpu steps/s':>14} {'gpu steps/s':>14} {'gpu / cpu':>10}")
    for size in args.sizes:
        n = size * args.seeds
        spec, params, starts = balancing_population(task, n)
        batched(task, spec, params[:64], starts[:64])  # warm-up
        cpu_s, cpu_steps = batched(task, spec, params, starts, "cpu")
        if not gpu:
            print(f"{n:>12} {cpu_steps / cpu_s:>14,.0f} {'-':>14} {'-':>10}")
            continue
        batched(task, spec, params[:64], starts[:64], args.device)  # warm-up (CUDA context)
        gpu_s, gpu_steps = batched(task, spec, params, starts, args.device)
        print(f"{n:>12} {cpu_steps / cpu_s:>14,.0f} {gpu_steps / gpu_s:>14,.0f} "
              f"{(gpu_steps / gpu_s) / (cpu_steps / cpu_s):>10.1f}")


if __name__ == "__main__":
    main()
