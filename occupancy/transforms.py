"""A sampling transform for half-normal scale parameters: the prior's own quantile map.

PyMC samples a positive parameter as log(x). For a half-normal prior whose data say little (the
overdispersion of a rare species' label counts, the site sd of a species seen at few sites), log(x) has a
long left tail and a steep right side (skew -2, excess kurtosis up to 10 on the lynx fits), so NUTS needs
small steps and long trajectories. Sampling u = Phi^-1(F(x)) instead, with F the half-normal's CDF, makes
the prior exactly Normal(0, 1) in u: where the data are weak the posterior stays nearly Gaussian. The model
(prior and likelihood of x) is unchanged; only the coordinates NUTS moves in differ.
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pymc.logprob.transforms import Transform

from occupancy.erfcinv import erfcinv

SQRT2 = np.sqrt(2.0)


class HalfNormalQuantile(Transform):
    """x = sigma * sqrt(2) * erfcinv(erfc(u / sqrt(2)) / 2): the half-normal(sigma) quantile of Phi(u)."""

    name = "halfnormalquantile"  # no underscores: PyMC reads a value variable's name back by splitting on them
    ndim_supp = 0

    def __init__(self, sigma: float):
        if not sigma > 0:
            raise ValueError(f"half-normal sigma must be > 0, got {sigma}")
        self.sigma = float(sigma)

    def forward(self, value, *inputs):
        # u = Phi^-1(F(x)) = sqrt(2) erfcinv(2 (1 - F(x))), and 1 - F(x) = erfc(x / (sigma sqrt 2))
        return SQRT2 * erfcinv(2.0 * pt.erfc(value / (self.sigma * SQRT2)))

    def backward(self, value, *inputs):
        # 1 - F(x) = 1 - Phi(u) = erfc(u / sqrt 2) / 2; erfc keeps the upper tail's precision
        return self.sigma * SQRT2 * erfcinv(pt.erfc(value / SQRT2) / 2.0)

    def log_jac_det(self, value, *inputs):
        # log |dx/du| = log phi(u) - log f(x), f the half-normal density; the sum with log f(x) is log phi(u)
        x = self.backward(value)
        return -0.5 * value**2 + 0.5 * (x / self.sigma) ** 2 + np.log(self.sigma) - np.log(2.0)
