"""A NEATState as plain data for nas.evolution.checkpoint, and back, exactly.

Genomes are stored column by column over the whole population (a few arrays instead of
one Python object per gene): per genome its sizes, hidden ids and gene count; per gene, in
the genome's dict order (which is not always innovation order, and mutations draw by
position), innovation, source, destination, weight, enabled, and whether the weight was a
numpy float64 rather than a Python float (same value either way; kept so a resumed run
holds the very same objects an uninterrupted one does). Species are tuples.
"""
from __future__ import annotations

from dataclasses import fields

import numpy as np

from nas.evolution.neat.algorithm import NEATState
from nas.evolution.neat.genes import ConnectionGene, Genome
from nas.evolution.neat.operators.speciation import Species

SCALARS = [f.name for f in fields(NEATState) if f.name not in ("population", "species")]
SPECIES = [f.name for f in fields(Species)]


def pack_neat(state: NEATState) -> dict:
    """Plain data (the genome columns as numpy arrays) for `state`."""
    pop = state.population
    if len({id(g) for g in pop}) != len(pop):
        raise TypeError("a NEAT population holding one genome twice")
    genes = [c for g in pop for c in g.connections.values()]
    if any(k != c.innovation for g in pop for k, c in g.connections.items()):
        raise TypeError("a NEAT gene filed under another innovation")
    ints = np.array([[c.innovation, c.src, c.dst] for c in genes], np.int64).reshape(-1, 3)
    columns = {
        "sizes": np.array([[g.n_inputs, g.n_outputs, len(g.hidden), len(g.connections)]
                           for g in pop], np.int64).reshape(-1, 4),
        "hidden": np.array([h for g in pop for h in g.hidden], np.int64),
        "genes": ints,
        "weight": np.array([c.weight for c in genes], np.float64),
        "enabled": np.array([c.enabled for c in genes], np.bool_),
        "numpy_weight": np.array([type(c.weight) is np.float64 for c in genes], np.bool_),
    }
    for c in genes:
        if type(c.weight) not in (float, np.float64) or type(c.enabled) is not bool:
            raise TypeError(f"a NEAT gene of types {type(c.weight)}, {type(c.enabled)}")
    return {"genomes": columns,
            "species": [tuple(_species_value(getattr(sp, f)) for f in SPECIES)
                        for sp in state.species],
            **{f: _scalar(getattr(state, f)) for f in SCALARS}}


def unpack_neat(data: dict) -> NEATState:
    """The NEATState `pack_neat` made `data` of (its genome columns as numpy arrays)."""
    cols = data["genomes"]
    sizes = cols["sizes"].tolist()
    hidden, genes = cols["hidden"].tolist(), cols["genes"].tolist()
    weight, enabled, numpy_weight = cols["weight"], cols["enabled"].tolist(), cols["numpy_weight"]
    if len(genes) != len(weight) or len(genes) != sum(s[3] for s in sizes):
        raise ValueError("NEAT gene columns of different lengths")
    weights = [w if is_np else float(w) for w, is_np in zip(weight, numpy_weight.tolist())]
    pop, h, k = [], 0, 0
    for n_in, n_out, n_hidden, n_genes in sizes:
        conns = {}
        for j in range(k, k + n_genes):
            innov, src, dst = genes[j]
            conns[innov] = ConnectionGene(innov, src, dst, weights[j], enabled[j])
        pop.append(Genome(n_in, n_out, hidden[h:h + n_hidden], conns))
        h, k = h + n_hidden, k + n_genes
    species = [Species(sid, list(members), *rest) for sid, members, *rest in data["species"]]
    return NEATState(pop, species, **{f: data[f] for f in SCALARS})


def _species_value(value):
    return list(value) if isinstance(value, list) else _scalar(value)


def _scalar(value):
    if value is None or type(value) in (bool, int, float):
        return value
    raise TypeError(f"cannot checkpoint a {type(value).__name__} in a NEAT state")
