"""A population's genes as a few flat arrays (a `GenePool`), the layout the compiled
reproduction (`_compiled`) reads and writes: per gene, in each genome's dict order,
innovation, source, destination, weight and enabled; per genome, its hidden node ids
(ascending); row r's genes are `gene_ptr[r]:gene_ptr[r + 1]`, its hidden nodes
`hidden_ptr[r]:hidden_ptr[r + 1]`. A pool is never written to once made, so genomes that
are its rows (`Genome.packed`) can share it and copy themselves for free.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np

from nas.evolution.neat.genes import ConnectionGene, Genome


_POOL, _ROW = attrgetter("_pool"), attrgetter("_row")


@dataclass(eq=False)  # compared by identity: a genome is a row of this very pool
class GenePool:
    gene_ptr: np.ndarray  # int64 (rows + 1)
    innovation: np.ndarray  # int64 per gene
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray  # float64
    enabled: np.ndarray  # bool
    hidden_ptr: np.ndarray  # int64 (rows + 1)
    hidden: np.ndarray  # int64
    _lists: tuple | None = field(default=None, repr=False)

    def n_hidden(self, row: int) -> int:
        return int(self.hidden_ptr[row + 1] - self.hidden_ptr[row])

    def unpack(self, row: int) -> tuple[list[int], dict[int, ConnectionGene]]:
        """Row `row` as a genome's Python objects: (hidden ids, genes by innovation)."""
        if self._lists is None:  # once per pool, not per genome
            self._lists = tuple(a.tolist() for a in (self.gene_ptr, self.innovation, self.src,
                                                     self.dst, self.weight, self.enabled,
                                                     self.hidden_ptr, self.hidden))
        ptr, innov, src, dst, weight, enabled, hptr, hidden = self._lists
        lo, hi = ptr[row], ptr[row + 1]
        conns = {i: ConnectionGene(i, s, d, w, e) for i, s, d, w, e in
                 zip(innov[lo:hi], src[lo:hi], dst[lo:hi], weight[lo:hi], enabled[lo:hi])}
        return hidden[hptr[row]:hptr[row + 1]], conns


def pack(genomes: list[Genome]) -> tuple[GenePool, np.ndarray]:
    """(pool, rows): genome i is row rows[i] of pool. Free when every genome is a row of
    one pool (a population straight from the compiled reproduction); otherwise the pool
    `gather` builds, rows 0..n-1."""
    pools = list(map(_POOL, genomes))  # (map and count: C loops, this runs every generation)
    if pools and pools[0] is not None and pools.count(pools[0]) == len(pools):
        return pools[0], np.fromiter(map(_ROW, genomes), np.int64, len(genomes))
    return gather(genomes), np.arange(len(genomes), dtype=np.int64)


def gather(genomes: list[Genome]) -> GenePool:
    """One pool whose row i is genomes[i]: the pool itself when the genomes are all its
    rows in order, slices of their pools for packed genomes, their objects for the rest
    (so a population of several seeds, or partly edited, builds no gene objects)."""
    parts, i = [], 0
    while i < len(genomes):
        h = genomes[i].packed_row()
        j = i + 1
        if h is None:
            while j < len(genomes) and genomes[j].packed_row() is None:
                j += 1
            parts.append(_from_objects(genomes[i:j]))
        else:
            rows = [h[1]]
            while j < len(genomes) and genomes[j]._pool is h[0]:
                rows.append(genomes[j]._row)
                j += 1
            parts.append(_rows(h[0], np.array(rows, np.int64)))
        i = j
    return parts[0] if len(parts) == 1 else _concat(parts)


def _rows(pool: GenePool, rows: np.ndarray) -> GenePool:
    """Rows `rows` of `pool` as a pool of their own (the pool itself if that is all of
    it, in order)."""
    if len(rows) == len(pool.gene_ptr) - 1 and np.array_equal(rows, np.arange(len(rows))):
        return pool
    genes = _ranges(pool.gene_ptr, rows)
    hidden = _ranges(pool.hidden_ptr, rows)
    return GenePool(_ptr(pool.gene_ptr, rows), pool.innovation[genes], pool.src[genes],
                    pool.dst[genes], pool.weight[genes], pool.enabled[genes],
                    _ptr(pool.hidden_ptr, rows), pool.hidden[hidden])


def _ptr(ptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(ptr[rows + 1] - ptr[rows])]).astype(np.int64)


def _ranges(ptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The indices ptr[r]:ptr[r + 1] of every row r in `rows`, concatenated."""
    starts, sizes = ptr[rows], ptr[rows + 1] - ptr[rows]
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
    return (np.arange(int(sizes.sum()), dtype=np.int64) + offsets).astype(np.int64)


def _from_objects(genomes: list[Genome]) -> GenePool:
    ptr, hptr = [0], [0]
    innov, src, dst, weight, enabled, hidden = [], [], [], [], [], []
    for g in genomes:
        for c in g.connections.values():
            innov.append(c.innovation)
            src.append(c.src)
            dst.append(c.dst)
            weight.append(c.weight)
            enabled.append(c.enabled)
        hidden += g.hidden
        ptr.append(len(innov))
        hptr.append(len(hidden))
    i64 = np.int64
    return GenePool(np.array(ptr, i64), np.array(innov, i64), np.array(src, i64),
                    np.array(dst, i64), np.array(weight, np.float64),
                    np.array(enabled, np.bool_), np.array(hptr, i64), np.array(hidden, i64))


def _concat(parts: list[GenePool]) -> GenePool:
    def ptrs(name):
        out, base = [np.zeros(1, np.int64)], 0
        for part in parts:
            ptr = getattr(part, name)
            out.append(ptr[1:] + base)
            base += int(ptr[-1])
        return np.concatenate(out)

    cat = {name: np.concatenate([getattr(p, name) for p in parts])
           for name in ("innovation", "src", "dst", "weight", "enabled", "hidden")}
    return GenePool(ptrs("gene_ptr"), cat["innovation"], cat["src"], cat["dst"], cat["weight"],
                    cat["enabled"], ptrs("hidden_ptr"), cat["hidden"])


def rows_of(pool: GenePool, n_inputs: int, n_outputs: int) -> list[Genome]:
    """Every row of `pool` as a packed genome (`Genome.packed` inlined: a population's
    worth of calls is a visible part of a generation)."""
    new, out = Genome.__new__, []
    for r in range(len(pool.gene_ptr) - 1):
        g = new(Genome)
        g.n_inputs, g.n_outputs, g._hidden, g._connections = n_inputs, n_outputs, None, None
        g._pool, g._row = pool, r
        out.append(g)
    return out
