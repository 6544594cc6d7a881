"""NEAT's speciation compiled (numba, single-threaded, cached like nas's kernels), over
packed genomes (`packed.GenePool`): `operators.speciation.speciate` and `key_distance`
with the same comparisons and the same float arithmetic (weight differences summed in
innovation order, as key_distance does), so it forms the same species.
"""
from __future__ import annotations

import numpy as np

from nas.evolution.kernels._numba import jit


@jit()
def _sorted_genes(ptr, innov, weight, rows):
    """Per row (in `rows` order): its innovations and weights, ascending by innovation."""
    out_ptr = np.zeros(rows.shape[0] + 1, np.int64)
    for i in range(rows.shape[0]):
        out_ptr[i + 1] = out_ptr[i] + ptr[rows[i] + 1] - ptr[rows[i]]
    s_inn = np.empty(out_ptr[-1], np.int64)
    s_w = np.empty(out_ptr[-1], np.float64)
    for i in range(rows.shape[0]):
        lo = ptr[rows[i]]
        order = np.argsort(innov[lo:ptr[rows[i] + 1]])
        for j in range(order.shape[0]):
            s_inn[out_ptr[i] + j] = innov[lo + order[j]]
            s_w[out_ptr[i] + j] = weight[lo + order[j]]
    return out_ptr, s_inn, s_w


@jit()
def _distance(ai, aw, a0, a1, bi, bw, b0, b1, c1, c2, c3, norm_min, bound):
    """key_distance between genes a0:a1 of (ai, aw) and b0:b1 of (bi, bw), each sorted
    by innovation; matching weights summed in innovation order."""
    na, nb = a1 - a0, b1 - b0
    if na == 0 and nb == 0:
        return 0.0
    last_a = ai[a1 - 1] if na else -1
    last_b = bi[b1 - 1] if nb else -1
    i, j, matching, excess = a0, b0, 0, 0
    wsum = 0.0
    while i < a1 and j < b1:
        if ai[i] == bi[j]:
            wsum += abs(aw[i] - bw[j])
            matching += 1
            i += 1
            j += 1
        elif ai[i] < bi[j]:
            i += 1
        else:
            j += 1
    if last_a > last_b:  # a's genes past b's last innovation (the merge stopped there)
        while i < a1 and ai[i] <= last_b:
            i += 1
        excess = a1 - i
    elif last_b > last_a:
        while j < b1 and bi[j] <= last_a:
            j += 1
        excess = b1 - j
    disjoint = na + nb - 2 * matching - excess
    n = max(na, nb)
    if n < norm_min:
        n = 1
    structural = c1 * excess / n + c2 * disjoint / n
    if structural >= bound or matching == 0:
        return structural
    return structural + c3 * wsum / matching


@jit()
def speciate(c_ptr, c_inn, c_w, c_rows, r_ptr, r_inn, r_w, rep_rows, threshold, c1, c2, c3,
             norm_min):
    """speciate over packed genomes: each child joins
    the first group whose representative (rows rep_rows of the r_ pool, then the children
    that founded groups) is closer than the threshold, else founds one. Child i is row
    c_rows[i] of the c_ pool. Returns each child's group and the number of groups."""
    n = c_rows.shape[0]
    kp, ki, kw = _sorted_genes(c_ptr, c_inn, c_w, c_rows)
    rp, ri, rw = _sorted_genes(r_ptr, r_inn, r_w, rep_rows)
    n_reps = rep_rows.shape[0]
    founders = np.empty(n, np.int64)
    n_groups = n_reps
    group = np.empty(n, np.int64)
    for i in range(n):
        group[i] = -1
        for g in range(n_groups):
            if g < n_reps:
                d = _distance(ki, kw, kp[i], kp[i + 1], ri, rw, rp[g], rp[g + 1], c1, c2, c3,
                              norm_min, threshold)
            else:
                f = founders[g - n_reps]
                d = _distance(ki, kw, kp[i], kp[i + 1], ki, kw, kp[f], kp[f + 1], c1, c2, c3,
                              norm_min, threshold)
            if d < threshold:
                group[i] = g
                break
        if group[i] < 0:
            founders[n_groups - n_reps] = i
            group[i] = n_groups
            n_groups += 1
    return group, n_groups
