"""NEAT's breeding compiled (numba, single-threaded, cached like nas's kernels): every
species' children, over a packed population (`packed.GenePool`) instead of one Python
object per gene; `_compiled_speciation` speciates them.

Each function draws from the run's numpy Generator (numba shares its bit generator, and
its random/integers/normal/uniform give numpy's values) in exactly the order the Python
operators do, and does the same float arithmetic, so a generation bred here is the one
the operators would breed, bit for bit (tests/test_neat_compiled.py compares them). The
rules are the operators' (their docstrings); `OPTIONS` is how an operator set tells this
code which variant it is (`Breeding.compiled()`).
"""
from __future__ import annotations

import math

import numpy as np

from nas.evolution.kernels._numba import jit

# ip: integer options of `breed`, fp: float options, by position
INT_OPTIONS = ("elitism", "elitism_min_size", "exclusive", "uniform_noise", "link_choice",
               "averaging", "mate_only")
FLOAT_OPTIONS = ("survival", "crossover_rate", "interspecies_rate", "inherit_disabled_prob",
                 "average_prob", "mate_only_prob", "weight_prob", "add_node_prob",
                 "add_connection_prob", "enable_prob", "disable_prob", "perturb_prob", "sigma",
                 "init_std", "limit", "recurrent_link_prob")
FEED_FORWARD, ANY_LINK, RECURRENT_FIRST = 0, 1, 2


@jit()
def _link(tr, links, src, dst):
    """InnovationTracker.link: tr = [next_innovation, next_node, n_links, n_splits]."""
    for i in range(tr[2]):
        if links[i, 0] == src and links[i, 1] == dst:
            return links[i, 2]
    links[tr[2], 0], links[tr[2], 1], links[tr[2], 2] = src, dst, tr[0]
    tr[2] += 1
    tr[0] += 1
    return tr[0] - 1


@jit()
def _split(tr, links, splits, innov, src, dst):
    """InnovationTracker.split: row of `splits` = [innovation, node, in, out]."""
    for i in range(tr[3]):
        if splits[i, 0] == innov:
            return i
    s = tr[3]
    splits[s, 0], splits[s, 1] = innov, tr[1]
    tr[1] += 1
    splits[s, 2] = _link(tr, links, src, splits[s, 1])
    splits[s, 3] = _link(tr, links, splits[s, 1], dst)
    tr[3] += 1
    return s


@jit()
def _copy_row(p, r, o, lo, hlo):
    """Row r of pool p into the child at genes lo, hidden hlo; returns (end, hidden end)."""
    a, b = p[0][r], p[0][r + 1]
    n = b - a
    o[1][lo:lo + n] = p[1][a:b]
    o[2][lo:lo + n] = p[2][a:b]
    o[3][lo:lo + n] = p[3][a:b]
    o[4][lo:lo + n] = p[4][a:b]
    o[5][lo:lo + n] = p[5][a:b]
    h = p[6][r + 1] - p[6][r]
    o[7][hlo:hlo + h] = p[7][p[6][r]:p[6][r + 1]]
    return lo + n, hlo + h


@jit()
def _crossover(rng, p, ra, rb, fa, fb, o, lo, hlo, ip, fp):
    """Crossover.__call__ (AveragingCrossover when ip[5])."""
    na, nb = p[0][ra + 1] - p[0][ra], p[0][rb + 1] - p[0][rb]
    if fb > fa or (fb == fa and nb < na):
        ra, rb = rb, ra
    average = ip[5] == 1 and rng.random() < fp[4]
    h = p[6][ra + 1] - p[6][ra]
    o[7][hlo:hlo + h] = p[7][p[6][ra]:p[6][ra + 1]]
    a0, b0, b1 = p[0][ra], p[0][rb], p[0][rb + 1]
    order = np.argsort(p[1][a0:p[0][ra + 1]])
    end = lo
    for q in order:
        i = a0 + q
        j = b0
        while j < b1 and p[1][j] != p[1][i]:
            j += 1
        take = i
        if j < b1 and not rng.random() < 0.5:
            take = j
        o[1][end], o[2][end], o[3][end] = p[1][take], p[2][take], p[3][take]
        o[4][end], o[5][end] = p[4][take], p[5][take]
        if j < b1:
            if average:
                o[4][end] = 0.5 * (p[4][i] + p[4][j])
            if not (p[5][i] and p[5][j]):
                o[5][end] = not rng.random() < fp[3]
        end += 1
    return end, hlo + h


@jit()
def _reweight(rng, o, lo, hi, ip, fp):
    """Reweight with PerConnection and Gaussian/UniformNoise."""
    n = hi - lo
    perturb = np.empty(n, np.bool_)
    for i in range(n):
        perturb[i] = rng.random() < fp[11]
    z = np.empty(n)
    for i in range(n):
        z[i] = rng.uniform(-1.0, 1.0) if ip[3] == 1 else rng.normal(0.0, 1.0)
    lim, sigma, init_std = fp[14], fp[12], fp[13]
    for i in range(n):
        w = o[4][lo + i] + sigma * z[i] if perturb[i] else init_std * z[i]
        o[4][lo + i] = min(lim, max(-lim, w))


@jit()
def _add_node(rng, o, lo, hi, hlo, hhi, tr, links, splits):
    """mutate_add_node; returns (genes end, hidden end)."""
    order = np.argsort(o[1][lo:hi])
    n_on = 0
    for q in order:
        n_on += o[5][lo + q]
    if n_on == 0:
        return hi, hhi
    pick = rng.integers(0, n_on)
    old = -1
    for q in order:
        if o[5][lo + q]:
            if pick == 0:
                old = lo + q
                break
            pick -= 1
    s = _split(tr, links, splits, o[1][old], o[2][old], o[3][old])
    node = splits[s, 1]
    for h in range(hlo, hhi):
        if o[7][h] == node:
            return hi, hhi
    o[5][old] = False
    at = hhi
    while at > hlo and o[7][at - 1] > node:
        o[7][at] = o[7][at - 1]
        at -= 1
    o[7][at] = node
    o[1][hi], o[2][hi], o[3][hi], o[4][hi], o[5][hi] = splits[s, 2], o[2][old], node, 1.0, True
    o[1][hi + 1], o[2][hi + 1], o[3][hi + 1] = splits[s, 3], node, o[3][old]
    o[4][hi + 1], o[5][hi + 1] = o[4][old], True
    return hi + 2, hhi + 1


@jit()
def _cycle(o, lo, hi, src, dst):
    """creates_cycle: would src->dst close a cycle over all genes?"""
    if src == dst:
        return True
    n = hi - lo
    stack = np.empty(n + 1, np.int64)
    seen = np.empty(n + 1, np.int64)
    stack[0], seen[0], top, n_seen = dst, dst, 1, 1
    while top > 0:
        top -= 1
        node = stack[top]
        if node == src:
            return True
        for g in range(lo, hi):
            if o[2][g] == node:
                nxt, new = o[3][g], True
                for k in range(n_seen):
                    if seen[k] == nxt:
                        new = False
                        break
                if new:
                    seen[n_seen], stack[top] = nxt, nxt
                    n_seen += 1
                    top += 1
    return False


@jit()
def _add_connection(rng, o, lo, hi, hlo, hhi, n_in, n_out, tr, links, ip, fp):
    """AddConnection with FeedForwardLinks / AnyOpenLink / RecurrentFirst; returns the
    genes' end."""
    n_fixed = n_in + n_out
    n_nodes = n_fixed + hhi - hlo
    nodes = np.empty(n_nodes, np.int64)
    nodes[:n_fixed] = np.arange(n_fixed)
    nodes[n_fixed:] = o[7][hlo:hhi]
    cand = np.empty((n_nodes * (n_nodes - n_in), 2), np.int64)
    n_cand = 0
    for s in nodes:
        for d in nodes[n_in:]:
            taken = False
            for g in range(lo, hi):
                if o[2][g] == s and o[3][g] == d:
                    taken = True
                    break
            if not taken:
                cand[n_cand, 0], cand[n_cand, 1] = s, d
                n_cand += 1
    if ip[4] != ANY_LINK:
        recur = ip[4] == RECURRENT_FIRST and rng.random() < fp[15]
        kept = 0
        for c in range(n_cand):
            if _cycle(o, lo, hi, cand[c, 0], cand[c, 1]) == recur:
                cand[kept] = cand[c]
                kept += 1
        n_cand = kept
    if n_cand == 0:
        return hi
    c = rng.integers(0, n_cand)
    innov = _link(tr, links, cand[c, 0], cand[c, 1])
    w = rng.uniform(-fp[13], fp[13]) if ip[3] == 1 else rng.normal(0.0, fp[13])
    o[1][hi], o[2][hi], o[3][hi], o[4][hi], o[5][hi] = innov, cand[c, 0], cand[c, 1], w, True
    return hi + 1


@jit()
def _toggle(rng, o, lo, hi, to):
    """toggle: one random gene (in innovation order) that is not yet `to` set to `to`."""
    order = np.argsort(o[1][lo:hi])
    n = 0
    for q in order:
        n += o[5][lo + q] != to
    if n == 0:
        return
    pick = rng.integers(0, n)
    for q in order:
        if o[5][lo + q] != to:
            if pick == 0:
                o[5][lo + q] = to
                return
            pick -= 1


@jit()
def _mutate(rng, o, lo, hi, hlo, hhi, n_in, n_out, tr, links, splits, ip, fp):
    """IndependentMutation / ExclusiveMutation; returns (genes end, hidden end)."""
    exclusive = ip[2] == 1
    if exclusive:
        if rng.random() < fp[7]:
            return _add_node(rng, o, lo, hi, hlo, hhi, tr, links, splits)
        if rng.random() < fp[8]:
            return _add_connection(rng, o, lo, hi, hlo, hhi, n_in, n_out, tr, links, ip,
                                   fp), hhi
    if rng.random() < fp[6]:
        _reweight(rng, o, lo, hi, ip, fp)
    if not exclusive:
        if rng.random() < fp[7]:
            hi, hhi = _add_node(rng, o, lo, hi, hlo, hhi, tr, links, splits)
        if rng.random() < fp[8]:
            hi = _add_connection(rng, o, lo, hi, hlo, hhi, n_in, n_out, tr, links, ip, fp)
    if rng.random() < fp[9]:
        _toggle(rng, o, lo, hi, True)
    if rng.random() < fp[10]:
        _toggle(rng, o, lo, hi, False)
    return hi, hhi


@jit()
def _mate(rng, k, a, parents, pool, pool_ptr, survival, interspecies):
    """Breeding._mate: a population index."""
    n_species = pool_ptr.shape[0] - 1
    if n_species > 1 and rng.random() < interspecies:
        other = rng.integers(0, n_species - 1)
        if other >= k:
            other += 1
        size = pool_ptr[other + 1] - pool_ptr[other]
        n_par = max(1, math.ceil(survival * size))
        return pool[pool_ptr[other] + rng.integers(0, n_par)]
    n_others = 0
    for i in parents:
        n_others += i != a
    if n_others == 0:
        return parents[rng.integers(0, parents.shape[0])]
    pick = rng.integers(0, n_others)
    for i in parents:
        if i != a:
            if pick == 0:
                return i
            pick -= 1
    return -1


@jit()
def breed(rng, p, rows, n_in, n_out, fit, pool, pool_ptr, counts, ip, fp, next_innov,
          next_node):
    """Breeding.offspring for every species in turn (species k: `counts[k]` children
    from its members ranked best first, `pool[pool_ptr[k]:pool_ptr[k + 1]]`, population
    indices; genome i is row rows[i] of pool p). Returns the children's pool arrays and
    the tracker's next innovation and node."""
    n_children = counts.sum()
    most, most_hidden = 0, 0
    for r in range(p[0].shape[0] - 1):
        most = max(most, p[0][r + 1] - p[0][r])
        most_hidden = max(most_hidden, p[6][r + 1] - p[6][r])
    cap = n_children * (most + 3)
    o = (np.zeros(n_children + 1, np.int64), np.empty(cap, np.int64), np.empty(cap, np.int64),
         np.empty(cap, np.int64), np.empty(cap, np.float64), np.empty(cap, np.bool_),
         np.zeros(n_children + 1, np.int64), np.empty(n_children * (most_hidden + 1), np.int64))
    tr = np.array([next_innov, next_node, 0, 0], np.int64)
    links = np.empty((3 * n_children + 1, 3), np.int64)
    splits = np.empty((n_children + 1, 4), np.int64)
    c = 0
    for k in range(counts.shape[0]):
        n = counts[k]
        top = pool[pool_ptr[k]:pool_ptr[k + 1]]
        made = 0
        if n > 0 and top.shape[0] > ip[1]:
            for e in range(min(ip[0], n)):
                o[0][c + 1], o[6][c + 1] = _copy_row(p, rows[top[e]], o, o[0][c], o[6][c])
                c += 1
                made += 1
        parents = top[:max(1, math.ceil(fp[0] * top.shape[0]))]
        while made < n:
            a = parents[rng.integers(0, parents.shape[0])]
            lo, hlo = o[0][c], o[6][c]
            mutate = True
            if rng.random() < fp[1]:
                b = _mate(rng, k, a, parents, pool, pool_ptr, fp[0], fp[2])
                hi, hhi = _crossover(rng, p, rows[a], rows[b], fit[a], fit[b], o, lo, hlo,
                                     ip, fp)
                if ip[6] == 1 and a != b and rng.random() < fp[5]:
                    mutate = False
            else:
                hi, hhi = _copy_row(p, rows[a], o, lo, hlo)
            if mutate:
                hi, hhi = _mutate(rng, o, lo, hi, hlo, hhi, n_in, n_out, tr, links, splits,
                                  ip, fp)
            o[0][c + 1], o[6][c + 1] = hi, hhi
            c += 1
            made += 1
    return o, tr[0], tr[1]
