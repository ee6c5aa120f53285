"""Pure-numba digamma and erfcinv for PyTensor's numba back-end (`sampler.gradient: numba`), so that PyTensor's
numba disk cache can keep the compiled logp-and-gradient graph: its own implementations of these two call scipy
through function pointers, which it marks uncacheable, and one uncacheable op leaves the whole graph to be compiled
again (32-55 s for the lynx model) in every process. Importing this module registers both; they match scipy
within 1.3e-13 (digamma) and 5e-16 (erfcinv) relative (tests/occupancy/test_occupancy_numba.py).
"""
from __future__ import annotations

import math

from pytensor.link.numba.dispatch.basic import numba_njit, register_funcify_and_cache_key
from pytensor.link.numba.dispatch.scalar import scalar_op_cache_key
from pytensor.scalar.math import Psi

from occupancy.erfcinv import CErfcinv

CACHE_VERSION = "occupancy.numba_ops-1"  # change it with either function: numba would reuse the old code


def _digamma(x):
    """psi(x): the recurrence psi(x) = psi(x + 1) - 1/x up to x >= 6, then the asymptotic series; reflection
    for negative x."""
    if math.isnan(x) or x == -math.inf or (x <= 0.0 and x == math.floor(x)):
        return math.nan
    acc = 0.0
    if x < 0.0:  # psi(x) = psi(1 - x) - pi / tan(pi x)
        acc = -math.pi / math.tan(math.pi * x)
        x = 1.0 - x
    while x < 6.0:
        acc -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    series = f * (-1.0 / 12 + f * (1.0 / 120 + f * (-1.0 / 252 + f * (1.0 / 240 + f * (
        -1.0 / 132 + f * (691.0 / 32760 + f * (-1.0 / 12)))))))
    return acc + math.log(x) - 0.5 / x + series


def _erfcinv(y):
    """erfcinv(y) = -ndtri(y / 2) / sqrt(2), as `occupancy.erfcinv`'s C code: Acklam's rational approximation of
    ndtri, then one Halley step on Phi(x) - p."""
    if math.isnan(y) or y < 0.0 or y > 2.0:
        return math.nan
    if y == 0.0:
        return math.inf
    if y == 2.0:
        return -math.inf
    sign = 1.0
    if y > 1.0:  # 2 - y is exact for y in [1, 2]
        sign, y = -1.0, 2.0 - y
    p = 0.5 * y  # p <= 0.5, so x = ndtri(p) <= 0, where erfc(-x / sqrt 2) keeps its precision
    if p < 0.02425:
        q = math.sqrt(-2.0 * math.log(p))
        x = ((((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q - 2.400758277161838e+00) * q
                - 2.549732539343734e+00) * q + 4.374664141464968e+00) * q + 2.938163982698783e+00)
             / ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q + 2.445134137142996e+00) * q
                 + 3.754408661907416e+00) * q + 1.0))
    else:
        q = p - 0.5
        r = q * q
        x = ((((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r - 2.759285104469687e+02) * r
                + 1.383577518672690e+02) * r - 3.066479806614716e+01) * r + 2.506628277459239e+00) * q
             / (((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r - 1.556989798598866e+02) * r
                  + 6.680131188771972e+01) * r - 1.328068155288572e+01) * r + 1.0))
    e = 0.5 * math.erfc(-x / math.sqrt(2.0)) - p
    u = e * math.sqrt(2.0 * math.pi) * math.exp(x * x / 2.0)
    x = x - u / (1.0 + x * u / 2.0)
    return -sign * x / math.sqrt(2.0)


@register_funcify_and_cache_key(Psi)
def _numba_funcify_psi(op, node, **kwargs):
    return numba_njit(_digamma), scalar_op_cache_key(op, cache_version=CACHE_VERSION)


@register_funcify_and_cache_key(CErfcinv)
def _numba_funcify_erfcinv(op, node, **kwargs):
    return numba_njit(_erfcinv), scalar_op_cache_key(op, cache_version=CACHE_VERSION)
