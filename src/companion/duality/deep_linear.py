"""Deep linear networks: P1's Theorem 2 (Schatten-H regulariser, zero duality gap).

Convention of P1: ``X`` is d0 × n (columns are samples), ``Y`` is dH × n, weights
``W_i`` are d_i × d_{i−1}, the network is ``W_H ⋯ W_1 X``, and ``d_min = min(d_1 … d_{H−1})``.

Problem (4):  min_W ½‖Y − W_H⋯W_1X‖²_F + (γ/H)[‖W_1X‖^H_{S_H} + Σ_{i≥2} ‖W_i‖^H_{S_H}].

Closed form (derived in the chapter). By the variational form of the nuclear norm,
(1/H)[‖W_1X‖^H_{S_H} + Σ‖W_i‖^H_{S_H}] ≥ ‖W_H⋯W_1X‖_* with equality for balanced factors, so (4)
equals  min { ½‖Y − Z‖² + γ‖Z‖_* : rank Z ≤ d_min, Row(Z) ⊆ Row(X) }.  With Ỹ = Y X†X and its
singular values σ_i, the minimiser soft-thresholds the top d_min singular values, and

    P* = ½‖Y − Ỹ‖² + Σ_{i ≤ d_min} h(σ_i) + ½ Σ_{i > d_min} σ_i²,   h(σ) = γσ − γ²/2 if σ > γ else σ²/2.

Dual (5):  max { ½‖Y‖² − ½‖Ỹ − Λ‖²_(d_min) : Row(Λ) ⊆ Row(X), ‖Λ‖₂ ≤ γ },  ‖A‖²_(k) the sum of the
k largest squared singular values, solved here as an SDP (Schur complements) with cvxpy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import torch

from companion.core.devices import Device, resolve_device

Solver = Literal["SCS", "CLARABEL"]


class TheoremConditionError(ValueError):
    """Inputs outside the hypotheses of Theorem 2 (or of mismatched shapes)."""


# ---- linear algebra helpers --------------------------------------------------------------------------

def effective_target(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Ỹ = Y X† X: the rows of Y projected onto Row(X); shape dH × n."""
    return Y @ np.linalg.pinv(X) @ X


def row_space_basis(X: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """Orthonormal basis Q (n × r) of Row(X), r = rank X."""
    _, s, Vt = np.linalg.svd(X, full_matrices=False)
    r = int(np.sum(s > rtol * max(s.max(initial=0.0), 1e-300)))
    return Vt[:r].T


def sigma_min_nonzero(A: np.ndarray, rtol: float = 1e-10) -> float:
    """Smallest non-zero singular value of A."""
    s = np.linalg.svd(A, compute_uv=False)
    s = s[s > rtol * max(s.max(initial=0.0), 1e-300)]
    return float(s.min()) if s.size else 0.0


def top_k_sq(A: np.ndarray, k: int) -> float:
    """‖A‖²_(k): the sum of the k largest squared singular values."""
    s = np.linalg.svd(A, compute_uv=False)
    return float(np.sum(s[:k] ** 2))


def validate(X: np.ndarray, Y: np.ndarray, gamma: float, dmin: int, *, outside_theorem: bool = False) -> None:
    """Check shapes and Theorem 2's hypotheses: d_min ≤ min(d0, dH, n) and 0 ≤ γ < σ_min(Ỹ).

    ``outside_theorem=True`` allows γ ≥ σ_min(Ỹ) (to show what happens there) but never γ < 0.
    """
    if X.ndim != 2 or Y.ndim != 2:
        raise TheoremConditionError(f"X must be d0 × n and Y dH × n (2-D); got shapes {X.shape} and {Y.shape}")
    if X.shape[1] != Y.shape[1]:
        raise TheoremConditionError(f"X (d0 × n = {X.shape}) and Y (dH × n = {Y.shape}) must have the same n")
    d0, n = X.shape
    dH = Y.shape[0]
    if not 1 <= dmin <= min(d0, dH, n):
        raise TheoremConditionError(f"d_min = {dmin} must satisfy 1 ≤ d_min ≤ min(d0, dH, n) = {min(d0, dH, n)}")
    if not np.isfinite(gamma) or gamma < 0:
        raise TheoremConditionError(f"γ = {gamma} must be ≥ 0")
    smin = sigma_min_nonzero(effective_target(X, Y))
    if gamma >= smin and not outside_theorem:
        raise TheoremConditionError(f"γ = {gamma:.6g} ≥ σ_min(Ỹ) = {smin:.6g}: Theorem 2 needs 0 ≤ γ < σ_min(Ỹ); "
                                    "pass outside_theorem=True to compute anyway")


def validate_widths(X: np.ndarray, Y: np.ndarray, widths: Sequence[int]) -> int:
    """Check widths = (d0, d1, …, dH) against X and Y; return d_min."""
    if len(widths) < 3:
        raise TheoremConditionError(f"widths must be (d0, d1, …, dH) with H ≥ 2; got {tuple(widths)}")
    if widths[0] != X.shape[0] or widths[-1] != Y.shape[0]:
        raise TheoremConditionError(f"widths {tuple(widths)} must start with d0 = {X.shape[0]} and end with "
                                    f"dH = {Y.shape[0]}")
    return int(min(widths[1:-1]))


# ---- closed form ----------------------------------------------------------------------------------------

def closed_form_solution(X: np.ndarray, Y: np.ndarray, gamma: float, dmin: int) -> np.ndarray:
    """The optimal end-to-end map Z* = W_H⋯W_1X: soft-thresholded top-d_min SVD of Ỹ; shape dH × n.

    Test reference: the chapter compares values; the tests compare the recovered map with this one."""
    U, s, Vt = np.linalg.svd(effective_target(X, Y), full_matrices=False)
    z = np.maximum(s[:dmin] - gamma, 0.0)
    return (U[:, :dmin] * z) @ Vt[:dmin]


def closed_form_value(X: np.ndarray, Y: np.ndarray, gamma: float, dmin: int, *, outside_theorem: bool = False
                      ) -> float:
    """Optimal value of problem (4) in closed form (any X: non-square, rank-deficient)."""
    validate(X, Y, gamma, dmin, outside_theorem=outside_theorem)
    Yt = effective_target(X, Y)
    s = np.linalg.svd(Yt, compute_uv=False)
    h = np.where(s > gamma, gamma * s - 0.5 * gamma**2, 0.5 * s**2)
    return float(0.5 * np.sum((Y - Yt) ** 2) + h[:dmin].sum() + 0.5 * np.sum(s[dmin:] ** 2))


# ---- dual (5) as an SDP -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DualResult:
    value: float           # optimal value of (5)
    Lambda: np.ndarray     # Λ*, dH × n, rows in Row(X)
    seconds: float
    solver: str
    iterations: int = 0    # the solver's iterations (SCS; 0 where it reports none)
    solve_seconds: float = float("nan")   # the solver's own solve time (without cvxpy's canonicalisation)


def dual_objective(Lambda: np.ndarray, X: np.ndarray, Y: np.ndarray, dmin: int) -> float:
    """The objective of (5) at Λ: ½‖Y‖² − ½‖Ỹ − Λ‖²_(d_min)."""
    return float(0.5 * np.sum(Y**2) - 0.5 * top_k_sq(effective_target(X, Y) - Lambda, dmin))


def dual_value(X: np.ndarray, Y: np.ndarray, gamma: float, dmin: int, *, solver: Solver = "SCS",
               eps: float = 1e-9, outside_theorem: bool = False) -> DualResult:
    """Solve the dual (5) as a semidefinite programme.

    Row(Λ) ⊆ Row(X) is exact: Λ = M Qᵀ with Q an orthonormal basis of Row(X) (n × r), so
    ‖Ỹ − Λ‖_(k) = ‖ỸQ − M‖_(k) and ‖Λ‖₂ = ‖M‖₂. The sum of the k largest eigenvalues of AAᵀ is
    min { k s + tr Z : Z ⪰ 0, [[Z + sI, A], [Aᵀ, I]] ⪰ 0 } (Schur complement), and ‖M‖₂ ≤ γ is the
    LMI [[γI, M], [Mᵀ, γI]] ⪰ 0 (cvxpy's sigma_max). SCS is the default (fast past ~30 × 30).
    """
    import cvxpy as cp

    validate(X, Y, gamma, dmin, outside_theorem=outside_theorem)
    Q = row_space_basis(X)
    B = effective_target(X, Y) @ Q                     # dH × r
    dH, r = B.shape
    M = cp.Variable((dH, r))
    Z = cp.Variable((dH, dH), symmetric=True)
    s = cp.Variable()
    A = B - M
    lmi = cp.bmat([[Z + s * np.eye(dH), A], [A.T, np.eye(r)]])
    cons = [Z >> 0, lmi >> 0, cp.sigma_max(M) <= gamma]
    prob = cp.Problem(cp.Minimize(dmin * s + cp.trace(Z)), cons)
    t0 = time.perf_counter()
    kw = {"eps": eps, "max_iters": 200_000} if solver == "SCS" else {}
    prob.solve(solver=solver, **kw)
    secs = time.perf_counter() - t0
    if prob.status not in ("optimal", "optimal_inaccurate") or M.value is None:
        raise RuntimeError(f"the dual SDP did not solve ({prob.status}) with {solver}; try solver='CLARABEL'")
    Lam = M.value @ Q.T
    # report the objective at the returned Λ (exactly evaluated), not the solver's internal value
    stats = prob.solver_stats
    return DualResult(value=dual_objective(Lam, X, Y, dmin), Lambda=Lam, seconds=secs, solver=solver,
                      iterations=int(getattr(stats, "num_iters", None) or 0),
                      solve_seconds=float(getattr(stats, "solve_time", None) or float("nan")))


# ---- weight recovery from Λ* -----------------------------------------------------------------------------

def recover_weights(Lambda: np.ndarray, X: np.ndarray, Y: np.ndarray, widths: Sequence[int],
                    rtol: float = 1e-9) -> list[np.ndarray]:
    """Theorem 2's construction: with UΣVᵀ = svd_{d_min}(Ỹ − Λ*) (skinny),
    W_1 = [Σ^{1/H}Vᵀ; 0] X†,  W_i = [Σ^{1/H}, 0; 0, 0] (2 ≤ i ≤ H−1),  W_H = [UΣ^{1/H}, 0].

    Returns [W_1, …, W_H] with W_i of shape widths[i] × widths[i−1].
    """
    dmin = validate_widths(X, Y, widths)
    H = len(widths) - 1
    U, s, Vt = np.linalg.svd(effective_target(X, Y) - Lambda, full_matrices=False)
    r = int(np.sum(s[:dmin] > rtol * max(s.max(initial=0.0), 1e-300)))
    U, s, Vt = U[:, :r], s[:r], Vt[:r]
    root = s ** (1.0 / H)
    Ws = []
    for i in range(1, H + 1):
        W = np.zeros((widths[i], widths[i - 1]))
        if i == 1:
            W[:r] = (root[:, None] * Vt) @ np.linalg.pinv(X)
        elif i == H:
            W[:, :r] = U * root
        else:
            W[:r, :r] = np.diag(root)
        Ws.append(W)
    return Ws


def end_to_end(Ws: Sequence[np.ndarray], X: np.ndarray) -> np.ndarray:
    """W_H ⋯ W_1 X."""
    Z = X
    for W in Ws:
        Z = W @ Z
    return Z


def schatten_power_np(A: np.ndarray, H: float) -> float:
    """‖A‖^H_{S_H} = Σ σ_i^H."""
    return float(np.sum(np.linalg.svd(A, compute_uv=False) ** H))


def primal_objective(Ws: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray, gamma: float) -> float:
    """Objective of (4) at given weights (numpy, exact SVDs)."""
    H = len(Ws)
    reg = schatten_power_np(Ws[0] @ X, H) + sum(schatten_power_np(W, H) for W in Ws[1:])
    return float(0.5 * np.sum((Y - end_to_end(Ws, X)) ** 2) + gamma / H * reg)


# ---- primal (4) by batched first-order optimisation ---------------------------------------------------------

def schatten_power(W: torch.Tensor, H: float) -> torch.Tensor:
    """Σ σ_i(W)^H for a batch W (..., a, b), differentiable and stable.

    Computed as Σ λ_i^{H/2} over the eigenvalues of the smaller Gram matrix (eigvalsh: its gradient
    V diag(f'(λ)) Vᵀ is well defined for repeated eigenvalues, unlike the gradient of a full SVD);
    for even H it is the exact polynomial tr((WWᵀ)^{H/2}).
    """
    G = W @ W.transpose(-1, -2) if W.shape[-2] <= W.shape[-1] else W.transpose(-1, -2) @ W
    if float(H).is_integer() and int(H) % 2 == 0:
        P = torch.linalg.matrix_power(G, int(H) // 2)
        return P.diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.linalg.eigvalsh(G).clamp_min(0.0).pow(H / 2).sum(-1)


def batched_objective(Ws: Sequence[torch.Tensor], X: torch.Tensor, Y: torch.Tensor, gamma: float) -> torch.Tensor:
    """Objective (4) for R restarts at once: Ws[i] has shape (R, d_{i+1}, d_i); returns (R,)."""
    H = len(Ws)
    B = Ws[0] @ X
    Z = B
    for W in Ws[1:]:
        Z = W @ Z
    reg = schatten_power(B, H) + sum(schatten_power(W, H) for W in Ws[1:])
    return 0.5 * (Y - Z).pow(2).sum((-1, -2)) + gamma / H * reg


@dataclass(frozen=True)
class PrimalResult:
    value: float                 # best objective over restarts
    values: np.ndarray           # (R,) final objective of every restart
    weights: list[np.ndarray]    # best restart's [W_1, …, W_H]
    seconds: float


def primal_value(X: np.ndarray, Y: np.ndarray, gamma: float, widths: Sequence[int], *, restarts: int = 8,
                 steps: int = 2000, seed: int = 0, device: Device = "cpu", dtype: torch.dtype = torch.float64,
                 init_scale: float = 1.0) -> PrimalResult:
    """Solve the non-convex problem (4) from ``restarts`` random initialisations trained as one batch.

    All restarts share one L-BFGS run (strong-Wolfe line search, ``steps`` iterations): the objective is a
    sum of independent terms. Initialisation: W_i ~ N(0, init_scale²/d_{i−1}).
    """
    validate_widths(X, Y, widths)
    if gamma < 0:
        raise TheoremConditionError(f"γ = {gamma} must be ≥ 0")
    dev = resolve_device(device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    Xt = torch.as_tensor(X, dtype=dtype, device=dev)
    Yt = torch.as_tensor(Y, dtype=dtype, device=dev)
    H = len(widths) - 1
    Ws = [(torch.randn(restarts, widths[i + 1], widths[i], generator=gen, dtype=dtype) * init_scale
           / np.sqrt(widths[i])).to(dev).requires_grad_() for i in range(H)]
    t0 = time.perf_counter()
    opt = torch.optim.LBFGS(Ws, lr=1.0, max_iter=steps, history_size=50, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-12, tolerance_change=1e-16)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = batched_objective(Ws, Xt, Yt, gamma).sum()
        loss.backward()
        return loss

    opt.step(closure)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    with torch.no_grad():
        vals = batched_objective(Ws, Xt, Yt, gamma)
        vals = torch.where(torch.isfinite(vals), vals, torch.full_like(vals, torch.inf))
    best = int(torch.argmin(vals))
    weights = [W[best].detach().cpu().numpy() for W in Ws]
    return PrimalResult(value=primal_objective(weights, X, Y, gamma), values=vals.cpu().numpy(), weights=weights,
                        seconds=secs)


# ---- one instance, three ways -------------------------------------------------------------------------------

def gaussian_instance(n: int, seed: int, dH: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """P1's data for Fig 6: X = I_n (n × n) and Y with i.i.d. N(0, 1) entries (dH × n, dH = n by default)."""
    rng = np.random.default_rng(seed)
    return np.eye(n), rng.standard_normal((dH or n, n))


def rank_deficient_instance(d0: int, n: int, rank: int, dH: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A rectangular, rank-deficient X = A B (d0 × n, rank ``rank``) and Gaussian Y (dH × n)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((d0, rank)) @ rng.standard_normal((rank, n))
    return X, rng.standard_normal((dH, n))


@dataclass(frozen=True)
class ThreeWays:
    """Closed form, dual SDP, best primal restart and the weights recovered from Λ*, on one instance."""

    gamma: float
    sigma_min: float
    closed: float
    dual: float
    primal: float
    recovered: float          # objective (4) at recover_weights(Λ*)
    distance: float           # ‖W_H⋯W_1X (primal) − W*_H⋯W*_1X (from the dual)‖_F
    distance_rel: float       # distance / ‖W*_H⋯W*_1X‖_F
    dual_seconds: float
    primal_seconds: float
    restarts_at_optimum: int  # restarts within 1e-6 (relative) of the closed form

    def rel(self, which: Literal["primal", "dual", "recovered"]) -> float:
        """|value − closed form| / |closed form|."""
        return abs(getattr(self, which) - self.closed) / abs(self.closed)


def compare(X: np.ndarray, Y: np.ndarray, gamma: float, widths: Sequence[int], *, restarts: int, steps: int,
            seed: int, device: Device = "cpu", outside_theorem: bool = False, solver: Solver = "SCS") -> ThreeWays:
    """Solve (4) in closed form, by its dual SDP (5) and by batched non-convex training; recover W* from Λ*."""
    dmin = validate_widths(X, Y, widths)
    closed = closed_form_value(X, Y, gamma, dmin, outside_theorem=outside_theorem)
    d = dual_value(X, Y, gamma, dmin, solver=solver, outside_theorem=outside_theorem)
    p = primal_value(X, Y, gamma, widths, restarts=restarts, steps=steps, seed=seed, device=device)
    Wd = recover_weights(d.Lambda, X, Y, widths)
    Zd, Zp = end_to_end(Wd, X), end_to_end(p.weights, X)
    dist = float(np.linalg.norm(Zp - Zd))
    return ThreeWays(gamma=gamma, sigma_min=sigma_min_nonzero(effective_target(X, Y)), closed=closed,
                      dual=d.value, primal=p.value, recovered=primal_objective(Wd, X, Y, gamma), distance=dist,
                      distance_rel=dist / max(float(np.linalg.norm(Zd)), 1e-300), dual_seconds=d.seconds,
                      primal_seconds=p.seconds,
                      restarts_at_optimum=int(np.sum(np.abs(p.values - closed) <= 1e-6 * abs(closed))))
