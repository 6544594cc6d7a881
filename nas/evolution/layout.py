"""A pure network's parameter layout, torch-free (nas.evolution.networks documents it):
the networks unflatten genomes by it, and `nas study create` counts a spec's largest
network by it without loading torch."""
from __future__ import annotations

from math import prod
from typing import Sequence


def layer_shapes(n_in: int, n_out: int, hidden: Sequence[int],
                 recurrent: str) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of each tensor of one genome, in storage order."""
    if recurrent == "full":
        n = hidden[0]
        return [("w_in", (n_in, n)), ("w_rec", (n, n)), ("b", (n,))]
    shapes = []
    sizes = [n_in, *hidden, n_out]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes.append((f"w{i}", (a, b)))
        if i == 0 and recurrent == "elman":
            shapes.append(("context", (b, b)))
        shapes.append((f"b{i}", (b,)))
    return shapes


def n_params(n_in: int, n_out: int, hidden: Sequence[int], recurrent: str) -> int:
    return sum(prod(shape) for _, shape in layer_shapes(n_in, n_out, hidden, recurrent))
