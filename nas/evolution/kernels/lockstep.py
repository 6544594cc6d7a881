"""Pure networks, a block of LANES episodes per thread in lockstep across SIMD lanes.

One episode is one long dependency chain (network, then physics, then the next step), so
a thread running one at a time waits on latency, not arithmetic. Here a thread keeps
LANES episodes in flight: every array is structure-of-arrays with the lane innermost and
contiguous, and every loop over lanes has the compile-time trip count LANES, so LLVM
turns it into vector instructions and the episodes' chains overlap. When an episode
ends (it failed, or reached max_steps) its lane is refilled from the thread's queue of
rows at once, so short episodes still end early; a lane left without a row idles on a
dummy episode (zero network, zero state) that never ends and is never written. Once the
queue is empty and at most ALONE lanes are live, the block runs them to their ends one at
a time, in scalar code (alone.py), which steps one lane faster than an iteration does.

Determinism: a lane computes exactly what the scalar code would, whatever its position
and whatever the other lanes hold. Every loop body is plain IEEE arithmetic and selects
(no libm call: trig.sincos, activations' exp/tanh), and no value is combined across
lanes, so vector and scalar instructions round alike and a row's result is
bit-identical alone or in any batch, at any thread count.

Networks: the padded genome layout of networks.py, copied per lane into P[param, lane]
when a lane is (re)filled; each weighted sum accumulated in torch's order
(`acc = 0; acc += x[k] * w[k, j]` for k in order, then `bias + acc`), as networks.py
describes, LANES lanes per vector instruction (dot_lanes).

Reference counts. numba increfs and decrefs an array whenever its IR inlining passes it
on (every inlined helper below), and its pruning pass leaves many of those in the step
loop: each an atomic instruction, measured at a fifth of the loop's time. run_block
therefore works on borrowed views (`borrow`: the same data, no reference count) of its
arguments and scratch arrays, the scratch owned by a tuple kept alive to the end.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from nas.evolution.kernels import physics as ph
from nas.evolution.kernels._numba import jit
from nas.evolution.kernels.activations import ELU, RELU, SIGMOID, TANH, elu, relu, sigmoid, tanh
from nas.evolution.kernels.alone import run_alone
from nas.evolution.kernels.lanes import (A, B, CTX, INPUT_WOBBLE, NO_WOBBLE, OBS,  # noqa: F401
                                         STATE_WOBBLE, WINDOW)
from nas.evolution.kernels.networks import ELMAN, FULL, _padded, full_at, layer_at

LANES = 16
U = np.uint64
L = U(LANES)
F32 = np.float32
CLAIM = 8  # rows a thread takes from the shared queue at once (_claim)
ALONE = 2  # live lanes left, the queue empty, that a block runs one by one (alone.py)


@intrinsic
def fetch_add(typingctx, counter, n):
    """counter[0] += n atomically; returns the old value (the first row of a claim)."""
    if counter != types.int64[::1] or not isinstance(n, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary,
                                       [context.get_constant(types.intp, 0)])
        amount = context.cast(builder, args[1], signature.args[1], types.int64)
        return builder.atomic_rmw("add", ptr, amount, "monotonic")

    return types.int64(counter, n), codegen


@intrinsic
def borrow(typingctx, ary):
    """The same array without its reference count (a NULL meminfo, as numba gives arrays
    it does not own): numba increfs and decrefs an array on every assignment its
    inlining makes, an atomic instruction each, many per step of the loop below; on a
    borrowed array those calls do nothing. The owner must outlive it (keep_alive)."""
    if not isinstance(ary, types.Array):
        return None

    def codegen(context, builder, signature, args):
        src = context.make_array(signature.args[0])(context, builder, args[0])
        out = context.make_array(signature.return_type)(context, builder)
        for field in ("nitems", "itemsize", "data", "shape", "strides"):
            setattr(out, field, getattr(src, field))
        out.meminfo = cgutils.get_null_value(out.meminfo.type)
        out.parent = cgutils.get_null_value(out.parent.type)
        return out._getvalue()

    return ary(ary), codegen


@intrinsic
def keep_alive(typingctx, arrays):
    """Nothing: a use of `arrays` (a tuple), so numba frees them only after this point."""
    def codegen(context, builder, signature, args):
        return context.get_dummy_value()

    return types.void(arrays), codegen


@jit(inline="always")
def _claim(counter, rows, mine):
    """The thread's next row, or -1 when the queue is empty. A thread takes CLAIM rows of
    the shared queue at a time into `mine` ([next, end), its own int64[2]): one atomic add
    per CLAIM rows, where one row at a time had the threads take turns on the counter's
    cache line at almost every step of a batch of short episodes."""
    if mine[0] >= mine[1]:
        first = fetch_add(counter, CLAIM)
        mine[0], mine[1] = first, min(first + CLAIM, rows)
    if mine[0] >= mine[1]:
        return -1
    r = mine[0]
    mine[0] += 1
    return r


def _lane_vector(context, builder, array_type, array, offset_type, offset, element):
    """A pointer to the <LANES x element> at flat element `offset` of `array`."""
    ary = context.make_array(array_type)(context, builder, array)
    at = context.cast(builder, offset, offset_type, types.intp)
    return builder.bitcast(builder.gep(ary.data, [at]), ir.VectorType(element, LANES).as_pointer())


def _float32_arrays(*arrays):
    return all(isinstance(a, types.Array) and a.dtype == types.float32 for a in arrays)


def _offsets(*offsets):
    return all(isinstance(o, types.Integer) for o in offsets)


@intrinsic
def dot_lanes(typingctx, dst, d, x, xo, p, po, step, n, base, bo):
    """dst[d:d+LANES] = base[bo:bo+LANES] + acc, acc = 0 then, for k < n in order,
    acc += x[xo + k LANES:+LANES] * p[po + k step:+LANES] (float32, flat offsets): a
    vector multiply and a vector add per k, each lane rounded as the scalar code rounds,
    the accumulator in a register (a scratch array would be stored and reloaded every k:
    LLVM cannot tell it from the arrays read)."""
    if not (_float32_arrays(dst, x, p, base) and _offsets(d, xo, po, step, n, bo)):
        return None

    def codegen(context, builder, signature, args):
        t, f = signature.args, ir.FloatType()
        vector = ir.VectorType(f, LANES)
        intp = context.get_value_type(types.intp)
        acc = cgutils.alloca_once_value(builder, ir.Constant(vector, [0.0] * LANES))
        x_at = context.cast(builder, args[3], t[3], types.intp)
        p_at = context.cast(builder, args[5], t[5], types.intp)
        p_step = context.cast(builder, args[6], t[6], types.intp)
        count = context.cast(builder, args[7], t[7], types.intp)
        with cgutils.for_range(builder, count, intp=intp) as loop:
            k = loop.index
            xk = builder.add(x_at, builder.mul(k, ir.Constant(intp, LANES)))
            pk = builder.add(p_at, builder.mul(k, p_step))
            xv = builder.load(_lane_vector(context, builder, t[2], args[2], types.intp, xk, f),
                              align=4)
            pv = builder.load(_lane_vector(context, builder, t[4], args[4], types.intp, pk, f),
                              align=4)
            builder.store(builder.fadd(builder.load(acc), builder.fmul(xv, pv)), acc)
        bv = builder.load(_lane_vector(context, builder, t[8], args[8], t[9], args[9], f),
                          align=4)
        out = _lane_vector(context, builder, t[0], args[0], t[1], args[1], f)
        builder.store(builder.fadd(bv, builder.load(acc)), out, align=4)
        return context.get_dummy_value()

    return types.void(dst, d, x, xo, p, po, step, n, base, bo), codegen


@intrinsic
def scale_lanes(typingctx, dst, d, src, so, scale):
    """dst[d:d+LANES] = float32(src[so:so+LANES] * scale) (src float64, dst float32)."""
    if not (_float32_arrays(dst) and isinstance(src, types.Array) and src.dtype == types.float64
            and _offsets(d, so) and scale == types.float64):
        return None

    def codegen(context, builder, signature, args):
        t = signature.args
        f64 = ir.DoubleType()
        v = builder.load(_lane_vector(context, builder, t[2], args[2], t[3], args[3], f64),
                         align=8)
        factor = ir.Constant(ir.VectorType(f64, LANES), None)
        for l in range(LANES):
            factor = builder.insert_element(factor, args[4], ir.Constant(ir.IntType(32), l))
        out = _lane_vector(context, builder, t[0], args[0], t[1], args[1], ir.FloatType())
        builder.store(builder.fptrunc(builder.fmul(v, factor), out.type.pointee), out, align=4)
        return context.get_dummy_value()

    return types.void(dst, d, src, so, scale), codegen


@jit(inline="always")
def _layer(P, weights, width, bias, buf, src, n_in, n_out, dst, add):
    """buf[dst, j] = P[bias + j] + sum_k buf[src, k] * P[weights + k width + j], j < n_out,
    in torch's order (acc = 0, acc += x w for k in order, then bias + acc); with `add`, the
    sum is added to buf[dst] instead (Elman's context)."""
    units = U(buf.shape[1])
    x = U(src) * units * L
    for j in range(U(n_out)):
        at = (U(dst) * units + j) * L
        r = (U(weights) + j) * L
        if add:
            dot_lanes(buf, at, buf, x, P, r, U(width) * L, U(n_in), buf, at)
        else:
            dot_lanes(buf, at, buf, x, P, r, U(width) * L, U(n_in), P, (U(bias) + j) * L)


@jit(inline="always")
def _activate(kind, flat, units, row, n):
    """buf[row, :n] = activation(buf[row, :n]), every lane, `flat` being buf flattened: the
    units' lanes are one contiguous run, so each kind is one flat loop (one vectorized
    loop, its constants loaded once, no dispatch per unit)."""
    lo = U(row) * U(units) * L
    hi = lo + U(n) * L
    if kind == TANH:
        for i in range(lo, hi):
            flat[i] = tanh(flat[i])
    elif kind == SIGMOID:
        for i in range(lo, hi):
            flat[i] = sigmoid(flat[i])
    elif kind == RELU:
        for i in range(lo, hi):
            flat[i] = relu(flat[i])
    elif kind == ELU:
        for i in range(lo, hi):
            flat[i] = elu(flat[i])


@jit(inline="always")
def _copy(buf, src, dst, n):
    for j in range(U(n)):
        for l in range(L):
            buf[U(dst), j, l] = buf[U(src), j, l]


@jit(inline="always")
def network_step(P, sizes, recurrent, act, buf, flat, u):
    """BatchedNetwork.__call__ for every lane: buf[OBS] (float32 observations) -> u (each
    lane's first output); buf[CTX] is the recurrent state (zeros at an episode's start);
    flat: buf flattened (one view, made once)."""
    n_layers = sizes.shape[0] - 1
    if recurrent == FULL:
        n_in, n, width, w_rec, bias = full_at(sizes)
        _layer(P, 0, width, bias, buf, OBS, n_in, n, A, False)
        _layer(P, w_rec, width, 0, buf, CTX, n, n, A, True)
        for l in range(L):
            u[l] = buf[A, 0, l]
        _copy(buf, A, CTX, n)
        _activate(act, flat, buf.shape[1], CTX, n)
        return
    src, dst = OBS, A
    offset = 0
    for i in range(n_layers):
        a, b, width, weights, context, bias, offset = layer_at(sizes, recurrent, i, offset)
        _layer(P, weights, width, bias, buf, src, a, b, dst, False)
        if i == 0 and recurrent == ELMAN:
            _layer(P, context, width, 0, buf, CTX, b, b, dst, True)
        if i == n_layers - 1:
            for l in range(L):
                u[l] = buf[U(dst), 0, l]
            return
        _activate(act, flat, buf.shape[1], dst, b)
        if i == 0 and recurrent == ELMAN:
            _copy(buf, dst, CTX, b)
        src, dst = dst, (B if dst == A else A)


@jit(inline="always")
def _observe(w, obs_index, obs_scale, buf):
    """Task.observe then `.to(float32)` for every lane (the bias input is set once)."""
    units = U(buf.shape[1])
    for i in range(U(obs_index.shape[0])):
        k = U(obs_index[i])
        scale_lanes(buf, (U(OBS) * units + i) * L, w, (U(ph.STATE) * U(6) + k) * L, obs_scale[i])


@jit(inline="always")
def _fill(l, r, params, layout, genome_of, starts, P, w, buf, t, row, window, wobble_kind):
    """Lane l starts row r (r < 0: a dummy episode, zero network and state); its genome is
    gathered into the padded layout (networks.padded_layout) here, lane by lane, rather
    than the whole batch padded beforehand in numpy."""
    g = genome_of[r] if r >= 0 else 0
    for i in range(P.shape[0]):
        k = layout[i]
        P[i, l] = params[g, k] if (r >= 0) & (k >= 0) else F32(0.0)
    for i in range(6):
        w[ph.STATE, i, l] = 0.0
    if r >= 0:
        for i in range(starts.shape[1]):
            w[ph.STATE, i, l] = starts[r, i]
    for j in range(buf.shape[1]):
        buf[CTX, j, l] = F32(0.0)
    if wobble_kind != NO_WOBBLE:
        for k in range(WINDOW):
            window[l, k] = 0.0
    t[l], row[l] = 0, r


@jit(inline="always")
def input_wobble_lanes(w, t, window, obs_index, obs_scale, bias, has_bias):
    """Every lane's input wobble of this step into its window (before the step)."""
    for l in range(L):
        window[l, t[l] % WINDOW] = ph.input_wobble(w, l, obs_index, obs_scale, bias, has_bias)


@jit(inline="always")
def advance_lanes(w, t, fell, row, window, wobble_kind, max_steps):
    """After the physics: the state wobble of the lanes still up, every lane's step count
    advanced; True when some lane's real episode ended (failed or reached max_steps). A
    dummy lane (row < 0) never ends: it idles to the block's end. Refilling it each time
    its dummy episode failed cost a pass over the lanes every few steps once the queue was
    empty, while the block's last long episodes ran on."""
    if wobble_kind == STATE_WOBBLE:
        for l in range(L):
            if not fell[l]:
                window[l, t[l] % WINDOW] = ph.wobble(w, l)
    done = False
    for l in range(L):
        t[l] += 1
        done |= (fell[l] | (t[l] >= max_steps)) & (row[l] >= 0)
    return done


@jit(inline="always")
def lane_ended(l, t, fell, row, max_steps, window, lanes, wobble_kind, log):
    """False if lane l's episode runs on, or the lane idles (a dummy); else True: its row's
    results are logged, and the lane is to be refilled."""
    r = row[l]
    if r < 0 or not (fell[l] or t[l] >= max_steps):
        return False
    rows, survived, failed, wobble, count = log
    k = count[0]
    rows[k] = r
    survived[k] = t[l] - 1 if fell[l] else max_steps
    failed[k] = fell[l]
    wobble[k] = ph.window_sum(window, U(l), lanes) if wobble_kind != NO_WOBBLE else 0.0
    count[0] = k + 1
    return True


@jit(inline="always")
def new_log(rows):
    """A thread's own log of the rows it finished (row, survived, failed, wobble, and how
    many: int64[1]), written as episodes end and copied into the shared outputs once, by
    `flush`: rows finished by different threads sit side by side in the outputs, and
    writing there as each ended had the threads take turns on those cache lines."""
    return (np.empty(rows, np.int64), np.empty(rows, np.int64), np.empty(rows, np.bool_),
            np.empty(rows, np.float64), np.zeros(1, np.int64))


@jit(inline="always")
def borrow_log(log):
    """The log's arrays borrowed (see `borrow`); its owner must outlive them."""
    rows, survived, failed, wobble, count = log
    return borrow(rows), borrow(survived), borrow(failed), borrow(wobble), borrow(count)


@jit(inline="always")
def flush(log, survived, failed, wobble):
    """The log's rows into the shared outputs."""
    rows, done_survived, done_failed, done_wobble, count = log
    for k in range(count[0]):
        r = rows[k]
        survived[r], failed[r], wobble[r] = done_survived[k], done_failed[k], done_wobble[k]


@jit()
def run_block(counter, physics, fric1, fric2, muc, floor, obs_index, obs_scale, bias, has_bias,
              params, layout, genome_of, sizes, recurrent, act, starts, max_steps, wobble_kind,
              lanes, survived, failed, wobble):
    """Rows claimed from the shared queue `counter` (the next row to run, an int64[1]),
    LANES at a time in lockstep, until it is empty (episodes.pure_episodes' contract).
    Which thread and lane runs a row changes nothing in its result."""
    rows = starts.shape[0]
    claims = np.zeros(2, np.int64)  # this thread's rows in hand (_claim)
    first = _claim(counter, rows, claims)
    if first < 0:
        return
    if max_steps <= 0:
        while first >= 0:
            survived[first], failed[first], wobble[first] = max_steps, False, 0.0
            first = _claim(counter, rows, claims)
        return
    # Scratch, and the thread's own copies of the small arrays each step or refill reads:
    # the caller's copies can share a cache line with another thread's scratch (both come
    # off the same heap), which that thread writes every step, and each such read would
    # wait.
    owners = (np.zeros((layout.shape[0], LANES), F32),
              np.zeros((4, _padded(max(sizes.max(), obs_index.shape[0] + 1)), LANES), F32),
              np.zeros((ph.STAGES, 6, LANES), np.float64), np.zeros(LANES, F32),
              np.zeros(LANES, np.bool_), np.zeros(LANES, np.int64), np.zeros(LANES, np.int64),
              np.zeros((LANES, WINDOW), np.float64),
              obs_index.copy(), obs_scale.copy(), sizes.copy(), layout.copy(), new_log(rows))
    P, buf, w, u = borrow(owners[0]), borrow(owners[1]), borrow(owners[2]), borrow(owners[3])
    flat = buf.reshape(-1)  # once: a reshape is a call
    fell, t, row, window = borrow(owners[4]), borrow(owners[5]), borrow(owners[6]), borrow(owners[7])
    obs_index, obs_scale = borrow(owners[8]), borrow(owners[9])
    sizes, layout = borrow(owners[10]), borrow(owners[11])
    # the other arguments: the caller holds them for the whole call
    counter, params = borrow(counter), borrow(params)
    genome_of, starts = borrow(genome_of), borrow(starts)
    log = borrow_log(owners[12])
    if has_bias:
        for l in range(L):
            buf[OBS, obs_index.shape[0], l] = F32(bias)
    active, more = 0, True
    for l in range(LANES):
        r = first if l == 0 else (_claim(counter, rows, claims) if more else -1)
        more = r >= 0
        _fill(l, r, params, layout, genome_of, starts, P, w, buf, t, row, window, wobble_kind)
        active += 1 if r >= 0 else 0
    while active > 0:
        if active <= ALONE and not more:  # the queue is empty: the last lanes one by one
            for l in range(LANES):
                if row[l] >= 0:
                    run_alone(l, physics, fric1, fric2, muc, floor, obs_index, obs_scale, bias,
                              has_bias, P, sizes, recurrent, act, buf, w, u, fell, t, window,
                              wobble_kind, max_steps)
                    lane_ended(l, t, fell, row, max_steps, window, lanes, wobble_kind, log)
            break
        _observe(w, obs_index, obs_scale, buf)
        if wobble_kind == INPUT_WOBBLE:
            input_wobble_lanes(w, t, window, obs_index, obs_scale, bias, has_bias)
        network_step(P, sizes, recurrent, act, buf, flat, u)
        ph.control(physics, w, U(0), L, u, fric1, fric2, muc, floor, fell)
        if advance_lanes(w, t, fell, row, window, wobble_kind, max_steps):
            for l in range(LANES):
                if not lane_ended(l, t, fell, row, max_steps, window, lanes, wobble_kind, log):
                    continue
                active -= 1
                r = _claim(counter, rows, claims) if more else -1
                more = r >= 0
                _fill(l, r, params, layout, genome_of, starts, P, w, buf, t, row, window,
                      wobble_kind)
                active += 1 if r >= 0 else 0
    flush(log, survived, failed, wobble)
    keep_alive(owners)
