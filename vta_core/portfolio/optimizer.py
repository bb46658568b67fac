"""Long-only, fully invested Markowitz: max mu'w - gamma/2 w'Sigma w, sum w = 1, 0 <= w <= max_weight.

Two engines solve the same problem. `CvxpyMarkowitz` is the reference: one DPP problem compiled per
universe size n (the universe changes day to day), Parameters mu (n) and F (n x n, sqrt(gamma) times the
transposed Cholesky factor, so ||F w||^2 = gamma w'Sigma w), solved with warm start. `OsqpMarkowitz` is the
fast path: the same QP handed to OSQP directly (1/2 w'(gamma Sigma)w - mu'w), one workspace per n,
matrix values updated in place, warm-started from the previous day's solution and polished (the
polish step recovers the exact active set, so it matches the reference to ~1e-8; see the tests).
cvxpy's canonicalisation costs ~6 ms per solve even in DPP form, which is why the fast path exists.

Both return weights clipped to the bounds and renormalised to sum exactly 1 (the solvers' residuals
are ~1e-9; the accounting needs a fully invested portfolio) or None with the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp

LOG = logging.getLogger(__name__)
OSQP_SETTINGS = {
    "verbose": False,
    "polishing": True,
    "eps_abs": 1e-9,
    "eps_rel": 1e-9,
    "max_iter": 20000,
    "polish_refine_iter": 5,
}

# Tighter than the defaults (1e-8): near-ties between assets make the optimum flat, and the reference
# must pin the weights to ~1e-7 (tests compare the engines to 1e-6).
CVXPY_SETTINGS: dict[str, dict[str, float]] = {
    "CLARABEL": {"tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_feas": 1e-11, "tol_ktratio": 1e-9},
    "OSQP": {"eps_abs": 1e-10, "eps_rel": 1e-10, "polish": True, "max_iter": 50000},
}


@dataclass(frozen=True)
class Solution:
    weights: np.ndarray | None  # (n,) or None when the solve failed
    status: str  # solver status text; "optimal"/"solved" on success, else the failure reason


class Markowitz(Protocol):
    def solve(self, mu: np.ndarray, sigma: np.ndarray, gamma: float) -> Solution: ...


def _infeasible(n: int, max_weight: float | None) -> str | None:
    if n == 0:
        return "empty universe"
    if max_weight is not None and n * max_weight < 1.0 - 1e-12:
        return f"infeasible: {n} tickers x max_weight {max_weight} < 1"
    return None


def _finish(w: np.ndarray, max_weight: float | None) -> np.ndarray:
    # Solver residuals leave -1e-10 weights and sums of 1 +- 1e-9: snap them so turnover and drift are exact.
    w = np.clip(w, 0.0, 1.0 if max_weight is None else max_weight)
    return w / w.sum()


def scaled(mu: np.ndarray, sigma: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """The same problem with the objective multiplied by c > 0: returns (c mu, c gamma Sigma).

    Daily Sigma is ~1e-4, so the Hessian's eigenvalues are ~1e-4 and a solver's default tolerances
    (relative to ~1) leave weights wrong by 1e-3 (measured: Clarabel via cvxpy). c makes the mean
    diagonal of the Hessian 1; the argmax does not change under a positive scaling of the objective.
    """
    hessian = gamma * np.asarray(sigma, dtype=float)
    level = float(np.mean(np.diag(hessian))) if len(mu) else 0.0
    if level <= 0.0:  # gamma = 0: a linear programme; scale by the largest |mu| instead
        level = float(np.max(np.abs(mu))) if len(mu) and np.max(np.abs(mu)) > 0 else 1.0
    return np.asarray(mu, dtype=float) / level, hessian / level


def cholesky_factor(sigma: np.ndarray) -> np.ndarray:
    """Upper factor F with F'F = Sigma; a tiny ridge is added when Sigma is only semidefinite."""
    scale = float(np.trace(sigma)) / max(len(sigma), 1) or 1.0
    for jitter in (0.0, 1e-12, 1e-10, 1e-8):
        try:
            return np.linalg.cholesky(sigma + jitter * scale * np.eye(len(sigma))).T
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError("covariance is not positive semidefinite even with a 1e-8 ridge")


class CvxpyMarkowitz:
    """Reference engine: one compiled DPP problem per universe size, warm-started."""

    def __init__(self, max_weight: float | None, solver: str = "CLARABEL"):
        self.max_weight = max_weight
        self.solver = solver
        self._problems: dict[int, tuple] = {}

    def _problem(self, n: int) -> tuple:
        if n not in self._problems:
            import cvxpy as cp  # imported here: only the reference path pays cvxpy's import time

            w = cp.Variable(n)
            # gamma is folded into the factor (sqrt(gamma) F): a Parameter times sum_squares(Parameter @ w)
            # would be a product of parameters, which is not DPP and would recompile every solve.
            mu, factor = cp.Parameter(n), cp.Parameter((n, n))
            constraints = [cp.sum(w) == 1, w >= 0]
            if self.max_weight is not None:
                constraints.append(w <= self.max_weight)
            problem = cp.Problem(cp.Maximize(mu @ w - 0.5 * cp.sum_squares(factor @ w)), constraints)
            self._problems[n] = (problem, w, mu, factor)
        return self._problems[n]

    def solve(self, mu: np.ndarray, sigma: np.ndarray, gamma: float) -> Solution:
        reason = _infeasible(len(mu), self.max_weight)
        if reason:
            return Solution(None, reason)
        import cvxpy as cp

        problem, w, mu_p, factor_p = self._problem(len(mu))
        mu_c, hessian = scaled(mu, sigma, gamma)
        mu_p.value = mu_c
        factor_p.value = cholesky_factor(hessian) if gamma > 0 else np.zeros_like(hessian)
        try:
            problem.solve(solver=self.solver, warm_start=True, **CVXPY_SETTINGS.get(self.solver, {}))
        except cp.error.SolverError as err:
            return Solution(None, f"solver error: {err}")
        if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or w.value is None:
            return Solution(None, f"cvxpy status {problem.status}")
        return Solution(_finish(np.asarray(w.value, dtype=float), self.max_weight), str(problem.status))


class OsqpMarkowitz:
    """Fast engine: raw OSQP, one workspace per universe size, values updated in place, warm-started."""

    def __init__(self, max_weight: float | None):
        self.max_weight = max_weight
        self._workspaces: dict[int, tuple] = {}

    def _workspace(self, n: int, p_values: np.ndarray, q: np.ndarray) -> tuple:
        import osqp

        rows, cols = np.triu_indices(n)
        order = np.lexsort((rows, cols))  # CSC: column-major, rows ascending within a column
        rows, cols = rows[order], cols[order]
        # Built from explicit index arrays so zero values (gamma = 0) keep their slots for later updates.
        indptr = np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=n))])
        P = sp.csc_matrix((p_values[rows, cols], rows, indptr), shape=(n, n))
        A = sp.vstack([sp.csc_matrix(np.ones((1, n))), sp.identity(n, format="csc")], format="csc")
        upper = 1.0 if self.max_weight is None else self.max_weight
        lower_b = np.concatenate([[1.0], np.zeros(n)])
        upper_b = np.concatenate([[1.0], np.full(n, upper)])
        solver = osqp.OSQP()
        solver.setup(P, q, A, lower_b, upper_b, **OSQP_SETTINGS)
        self._workspaces[n] = (solver, rows, cols)
        return self._workspaces[n]

    def solve(self, mu: np.ndarray, sigma: np.ndarray, gamma: float) -> Solution:
        import osqp

        n = len(mu)
        reason = _infeasible(n, self.max_weight)
        if reason:
            return Solution(None, reason)
        mu_c, p_full = scaled(mu, sigma, gamma)
        q = -mu_c
        if n in self._workspaces:
            solver, rows, cols = self._workspaces[n]
            solver.update(q=q, Px=p_full[rows, cols])
        else:
            solver, rows, cols = self._workspace(n, p_full, q)
        result = solver.solve(raise_error=False)
        solved = (osqp.SolverStatus.OSQP_SOLVED.value, osqp.SolverStatus.OSQP_SOLVED_INACCURATE.value)
        if result.info.status_val not in solved:
            return Solution(None, f"osqp status {result.info.status}")
        if result.info.status_polish != 1:
            # Unpolished ADMM solutions are only eps-accurate; fine for trading, logged for the record.
            LOG.debug("osqp polish did not succeed (status_polish=%s)", result.info.status_polish)
        return Solution(_finish(np.asarray(result.x, dtype=float), self.max_weight), str(result.info.status))


def make_solver(engine: str, max_weight: float | None, cvxpy_solver: str = "CLARABEL") -> Markowitz:
    if engine == "osqp":
        return OsqpMarkowitz(max_weight)
    if engine == "cvxpy":
        return CvxpyMarkowitz(max_weight, cvxpy_solver)
    raise ValueError(f"unknown portfolio engine {engine!r} (osqp or cvxpy)")
