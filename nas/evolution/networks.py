"""Fixed-topology ("pure") networks, a whole population at once.

A genome is one flat parameter vector; `NetworkSpec.unflatten` turns a `[batch, n_params]`
matrix into per-layer weights `[batch, in, out]` and biases `[batch, out]`, and one
batched matmul per layer evaluates every individual of every seed together. The output
layer is linear: each task maps raw outputs to actions itself.

Layout of one genome: for each layer in order, its weights (row-major `in x out`) then
its biases; for an Elman network the first hidden layer also has a `hidden x hidden`
context matrix, stored right after its input weights.

Recurrence, `recurrent`:
  "none"   feed-forward.
  "elman"  the first hidden layer also sees its own previous activations (a context
           layer); the linear output layer sees only the last hidden layer.
  "full"   one layer of N neurons, each seeing the inputs and the previous activations
           of all N (the fully recurrent nets of ESP and CoSyNE's non-Markov pole
           balancing); the first `n_out` neurons are the outputs, read before their
           activation (tasks map raw outputs, e.g. double pole applies the sigmoid), so
           with sigmoid neurons the action is exactly the neuron's output. Layout:
           input weights `n_in x N`, recurrent weights `N x N`, biases `N`.
`True`/`False` (stored genomes from before "full" existed) mean "elman"/"none".
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from nas.errors import NasError
from nas.evolution.layout import layer_shapes, n_params

RECURRENCE = ("none", "elman", "full")

ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "elu": torch.nn.functional.elu,
}


@dataclass(frozen=True)
class NetworkSpec:
    n_in: int
    n_out: int
    hidden: tuple[int, ...] = ()
    activation: str = "tanh"
    recurrent: bool | str = "none"

    def __post_init__(self):
        object.__setattr__(self, "recurrent", recurrence(self.recurrent))
        if self.activation not in ACTIVATIONS:
            raise NasError(f"unknown activation {self.activation!r}; "
                           f"choose from {', '.join(sorted(ACTIVATIONS))}")
        if any(h < 1 for h in self.hidden):
            raise NasError("hidden layer sizes must be at least 1")
        if self.recurrent == "elman" and not self.hidden:
            raise NasError("a recurrent (Elman) network needs at least one hidden layer")
        if self.recurrent == "full" and (len(self.hidden) != 1 or self.hidden[0] < self.n_out):
            raise NasError(f"a fully recurrent network is one layer of at least {self.n_out} "
                           f"neuron(s) (hidden=[N]), got hidden={list(self.hidden)}")

    @property
    def sizes(self) -> list[int]:
        return [self.n_in, *self.hidden, self.n_out]

    def shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        return layer_shapes(self.n_in, self.n_out, self.hidden, self.recurrent)

    @property
    def n_params(self) -> int:
        return n_params(self.n_in, self.n_out, self.hidden, self.recurrent)

    def unflatten(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        batch = params.shape[0]
        tensors, offset = {}, 0
        for name, shape in self.shapes():
            size = _numel(shape)
            tensors[name] = params[:, offset:offset + size].reshape(batch, *shape)
            offset += size
        return tensors


def recurrence(value: bool | str) -> str:
    """The recurrence name for a config or stored value (bools are the old spelling)."""
    if isinstance(value, bool):
        return "elman" if value else "none"
    if value not in RECURRENCE:
        raise NasError(f"unknown recurrence {value!r}; choose from {', '.join(RECURRENCE)}")
    return value


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


class BatchedNetwork:
    """A `Policy` over `[batch, n_params]` genomes: one row per episode."""

    def __init__(self, spec: NetworkSpec, params: torch.Tensor):
        self.spec = spec
        self.layers = spec.unflatten(params.contiguous())
        self.act = ACTIVATIONS[spec.activation]
        self.n_layers = len(spec.sizes) - 1
        self.context = None
        if spec.recurrent != "none":
            self.context = params.new_zeros(params.shape[0], spec.hidden[0])

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        if self.spec.recurrent == "full":
            return self._full_step(obs)
        h = obs.to(self.layers["w0"].dtype)
        for i in range(self.n_layers):
            pre = torch.baddbmm(self.layers[f"b{i}"].unsqueeze(1), h.unsqueeze(1),
                                self.layers[f"w{i}"]).squeeze(1)
            if i == 0 and self.context is not None:
                pre = pre + torch.bmm(self.context.unsqueeze(1), self.layers["context"]).squeeze(1)
            h = pre if i == self.n_layers - 1 else self.act(pre)
            if i == 0 and self.context is not None:
                self.context = h
        return h

    def _full_step(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.to(self.layers["w_in"].dtype).unsqueeze(1)
        pre = torch.baddbmm(self.layers["b"].unsqueeze(1), x, self.layers["w_in"])
        pre = torch.baddbmm(pre, self.context.unsqueeze(1), self.layers["w_rec"]).squeeze(1)
        self.context = self.act(pre)
        return pre[:, :self.spec.n_out]

    def keep(self, rows: torch.Tensor) -> None:
        self.layers = {k: v[rows] for k, v in self.layers.items()}
        if self.context is not None:
            self.context = self.context[rows]
