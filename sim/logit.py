"""L2-regularised logistic regression by Newton's method, for the ranker's small models.

The ranker refits two models with a handful of features on tens of thousands of rows every
simulated day. An iterative solver stopped at a tolerance (L-BFGS) returns a point that jumps
when the data change by one row, and that jump is what turned a placebo change into a
different world. Newton's method converges quadratically to the unique optimum, so the fit
is a smooth function of the data; the coefficients are then rounded to a fixed grid, so a
last-bit difference between CPUs' floating-point kernels cannot reach the sampled rankings.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from threadpoolctl import ThreadpoolController

GRID = 2.0**-24  # coefficients are rounded to multiples of this (about 6e-8)
MAX_STEPS = 50
STEP_TOLERANCE = 1e-11


@cache
def _threadpools() -> ThreadpoolController:
    """The loaded BLAS/OpenMP libraries, inspected once: threadpool_limits() inspects them on
    every call, which cost more than a small fit."""
    return ThreadpoolController()


@dataclass(frozen=True)
class Logit:
    """A fitted model: intercept and coefficients."""

    intercept: float
    coef: np.ndarray

    def logit(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef + self.intercept

    def predict(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(x)))


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    c: float = 1.0,
    weight: np.ndarray | None = None,
    start: Logit | None = None,
) -> Logit:
    """Minimise C·Σ weight·log-loss + ½‖coef‖² (the intercept is not penalised), as
    scikit-learn's LogisticRegression(C) does, to convergence. Labels may be chances in
    [0, 1] (soft labels). `start` warm-starts the iteration."""
    n, k = x.shape
    rows = None if weight is None else weight.astype(np.float64)  # None: every row weighs 1
    design = np.empty((n, k + 1))  # = np.column_stack([np.ones(n), x])
    design[:, 0] = 1.0
    design[:, 1:] = x
    target = y.astype(np.float64)
    ridge = np.full(k + 1, 1.0 / c)
    ridge[0] = 0.0
    w = np.zeros(k + 1)
    if start is not None and len(start.coef) == k:
        w[0], w[1:] = start.intercept, start.coef
    w = np.round(_newton(design, target, rows, ridge, w) / GRID) * GRID
    return Logit(float(w[0]), w[1:].copy())


def _newton(
    design: np.ndarray,
    target: np.ndarray,
    rows: np.ndarray | None,
    ridge: np.ndarray,
    w: np.ndarray,
) -> np.ndarray:
    """Newton's method with backtracking from `w`, to convergence: the unrounded optimum."""
    from sim import kernels

    scaled = np.empty_like(design)  # the design's rows scaled by the Hessian's weights
    with _threadpools().limit(limits=1):  # fits this small run fastest on one thread
        loss, z = _loss(design, target, rows, w, ridge)
        for _ in range(MAX_STEPS):
            # z = design @ w, kept from the loss of w (the same product)
            p = 1.0 / (1.0 + np.exp(-z))
            residual = p - target
            grad = design.T @ (residual if rows is None else rows * residual) + ridge * w
            curvature = p * (1 - p) if rows is None else rows * p * (1 - p)
            kernels.scale_rows(design, curvature, scaled)  # = design * curvature[:, None]
            hess = scaled.T @ design + np.diag(ridge)
            hess[np.diag_indices_from(hess)] += 1e-9
            step = np.linalg.solve(hess, grad)
            # Backtracking keeps Newton safe far from the optimum (a cold start).
            t = 1.0
            while True:
                trial = w - t * step
                trial_loss, trial_z = _loss(design, target, rows, trial, ridge)
                if trial_loss <= loss + 1e-12 * abs(loss) or t < 1e-6:
                    break
                t /= 2
            w, loss, z = trial, trial_loss, trial_z
            if np.max(np.abs(t * step)) < STEP_TOLERANCE:
                break
    return w


def _loss(
    design: np.ndarray,
    target: np.ndarray,
    rows: np.ndarray | None,
    w: np.ndarray,
    ridge: np.ndarray,
) -> tuple[float, np.ndarray]:
    """The penalised loss at `w` and the logits `design @ w` it was computed from (rows of
    weight None weigh 1: multiplying by 1.0 would change no bit)."""
    z = design @ w
    # log(1 + e^z) - y z, computed stably
    terms = np.logaddexp(0.0, z)
    terms -= target * z
    if rows is not None:
        terms *= rows
    return float(np.sum(terms) + 0.5 * np.sum(ridge * w * w)), z
