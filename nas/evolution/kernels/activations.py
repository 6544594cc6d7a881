"""float32 activations as the torch path computes them, written to vectorize.

Each takes and returns float32, rounding like torch's function up to its own last-bit
error: tanh and elu are computed in float64 and rounded (correctly rounded float32 but
for a tiny fraction of inputs; torch's vectorized tanh / elu differ from that in the last
bit for ~0.4-1% / ~0.3% of inputs); sigmoid follows torch's float32 formula
1 / (1 + exp(-x)) with exp correctly rounded to float32 (torch's own exp differs in the
last bit for ~4% of inputs). relu and identity are exact.

Written for a short dependency chain and for SIMD: no libm calls, both sides of every
choice computed and one selected (clamps let NaN through, as torch does). exp is
Cody-Waite range reduction, e^x = 2^n e^r with |r| <= ln(2)/2, a degree-13 Taylor
polynomial in Estrin's form, and 2^n built from its bits.

tanh is most of a pure network's time, so it is one formula with no branch to compute
twice: tanh(a) = e / (2 - e), e = -expm1(-2a) (no cancellation near 0, so no separate
small-argument form), the polynomial in fused multiply-adds, and the float64 division
replaced by a float32 reciprocal refined by one Newton step (a float64 divide costs
several times a float32 one per lane). Its float64 result is within ~1e-14 relative,
which rounds to the same float32 as the correctly rounded tanh unless tanh(v) lies within
that of a float32 rounding boundary: of every positive float32 below 9.1 (1.09e9 inputs;
negative ones are their mirror, larger ones give 1), 2 differ in the last bit from the
correctly rounded tanh (the previous Cephes/exp form: 0 of those 2), none of 70 million
sampled inputs (uniform in [-10, 10], normal(0, 2), log-uniform magnitudes in
[1e-8, 10]) does; torch.tanh on a contiguous tensor differs from it on 0.3-1% of them.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from nas.evolution.kernels._numba import jit

F32 = np.float32
ZERO, ONE = np.float32(0.0), np.float32(1.0)

IDENTITY, TANH, RELU, SIGMOID, ELU = 0, 1, 2, 3, 4
ACTIVATION_IDS = {"identity": IDENTITY, "tanh": TANH, "relu": RELU, "sigmoid": SIGMOID,
                  "elu": ELU}

# The float32 results saturate beyond these, so the arguments are clamped to them:
TANH_CLAMP = 9.1  # float32(tanh(9.1)) == 1
EXP_RANGE = (-110.0, 90.0)  # float32(exp(x)) is 0 below, inf above (sigmoid, elu)

LOG2E = 1.4426950408889634
LN2_HI, LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10  # fdlibm's split
C = [1.0]
for _n in range(1, 14):
    C.append(C[-1] / _n)  # 1 / n!
C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13 = C
# tanh's expm1(-2u) / u on |u| <= ln(2)/4: the near-minimax (Chebyshev) degree-9 fit,
# relative error 1.5e-15 with these float64 coefficients (mpmath.chebyfit at 40 digits on
# the interval widened by 0.1%; the Taylor polynomial needs degree 11 for 6e-16)
G0, G1, G2, G3, G4 = (-2.0000000000000027, 2.0000000000000004, -1.333333333329219,
                      0.6666666666659812, -0.26666666776051545)
G5, G6, G7, G8, G9 = (0.08888888907114932, -0.025396723622440113, 0.00634918939081426,
                      -0.0014147989290323115, 0.00028283086429216304)
# fma(y, 1, SHIFTER) rounds y to an integer n in its low mantissa bits, biased by 1023:
# those bits shifted to the exponent field make 2^n (1.5 * 2^52 keeps it in one binade)
SHIFTER = 1.5 * 2.0 ** 52 + 1023.0


@intrinsic
def _f64_from_bits(typingctx, bits):
    """The float64 whose IEEE bits are the int64 `bits`."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _bits_of_f64(typingctx, x):
    """The IEEE bits of the float64 `x`, as an int64."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c rounded once (llvm.fma: the FMA instruction, or libm's fma)."""
    if not (a == b == c == types.float64):
        return None

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.DoubleType(), [ir.DoubleType()] * 3)
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.fma.f64")
        return builder.call(fn, args)

    return types.float64(types.float64, types.float64, types.float64), codegen


@jit(inline="always")
def exp_f64(x):
    """exp(x) for -708 <= x <= 709 (float64), to ~2e-16 relative."""
    n = np.floor(x * LOG2E + 0.5)
    r = (x - n * LN2_HI) - n * LN2_LO
    r2 = r * r
    r4 = r2 * r2
    s0 = (C0 + C1 * r) + (C2 + C3 * r) * r2
    s1 = (C4 + C5 * r) + (C6 + C7 * r) * r2
    s2 = (C8 + C9 * r) + (C10 + C11 * r) * r2
    s3 = C12 + C13 * r
    poly = (s0 + s1 * r4) + (s2 + s3 * r4) * (r4 * r4)
    return poly * _f64_from_bits((np.int64(n) + 1023) << 52)


@jit(inline="always")
def expm1_f64(x):
    """expm1(x) for -708 <= x <= 0 (float64), to ~4e-16 relative: the Taylor series near 0,
    where exp(x) - 1 cancels, else exp(x) - 1."""
    r2 = x * x
    r4 = r2 * r2
    s0 = (C1 + C2 * x) + (C3 + C4 * x) * r2
    s1 = (C5 + C6 * x) + (C7 + C8 * x) * r2
    s2 = (C9 + C10 * x) + (C11 + C12 * x) * r2
    near = x * ((s0 + s1 * r4) + (s2 + C13 * x * r4) * (r4 * r4))
    far = exp_f64(x) - 1.0
    return near if abs(x) < 0.25 else far


@jit(inline="always")
def tanh(v):
    """tanh(v) = e / (2 - e), e = -expm1(-2|v|) = 1 - e^-2|v| (no cancellation near 0, so
    no separate small-argument form), the sign copied from v. -2|v| = n ln2 - 2u, |u| <=
    ln(2)/4, and expm1(-2u) = u G(u), G a degree-9 polynomial in Horner form with fused
    multiply-adds, so e = (1 - 2^n) - 2^n u G(u) (1 - 2^n exact: n <= 0); n and 2^n both
    come from one rounding (SHIFTER). The division: a float32 reciprocal (one cheap
    instruction for 16 lanes) and one Newton step in float64."""
    a = abs(np.float64(v))
    a = TANH_CLAMP if a > TANH_CLAMP else a
    k = fma(a, -2.0 * LOG2E, SHIFTER)
    n = k - SHIFTER  # round(-2a / ln 2), exact
    s = _f64_from_bits(_bits_of_f64(k) << 52)  # 2^n
    u = fma(n, 0.5 * LN2_HI, a)  # exact, as x - n LN2_HI is in exp_f64
    u = fma(n, 0.5 * LN2_LO, u)
    g = fma(fma(fma(fma(fma(G9, u, G8), u, G7), u, G6), u, G5), u, G4)
    g = fma(fma(fma(fma(g, u, G3), u, G2), u, G1), u, G0)
    e = fma(-s, u * g, 1.0 - s)
    den = 2.0 - e
    y = np.float64(ONE / F32(den))  # 1 / den to 2^-23
    q = e * y
    return F32(np.copysign(fma(-fma(q, den, -e), y, q), np.float64(v)))


@jit(inline="always")
def sigmoid(v):
    z = -np.float64(v)
    z = EXP_RANGE[0] if z < EXP_RANGE[0] else z
    z = EXP_RANGE[1] if z > EXP_RANGE[1] else z
    return ONE / (ONE + F32(exp_f64(z)))


@jit(inline="always")
def elu(v):
    d = np.float64(v)
    d = EXP_RANGE[0] if d < EXP_RANGE[0] else d
    return v if v > ZERO else F32(expm1_f64(0.0 if d > 0.0 else d))


@jit(inline="always")
def relu(v):
    return ZERO if v < ZERO else v


@jit(inline="always")
def activate(kind, v):
    """One float32 activation by id."""
    if kind == TANH:
        return tanh(v)
    if kind == SIGMOID:
        return sigmoid(v)
    if kind == RELU:
        return relu(v)
    if kind == ELU:
        return elu(v)
    return v
