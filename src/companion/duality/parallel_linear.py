"""P2 on deep linear networks: weight decay has a duality gap at depth ≥ 3; parallel nets with a path
regulariser do not. Closed forms (our derivation, stated in the chapter), convex programs, and
batched non-convex training by an augmented Lagrangian.

Convention of P2: ``X`` is n × d (rows are samples), ``Y`` is n × k, the network is
``Σ_{j=1..m} X W_{1j} ⋯ W_{Lj}`` (m = 1: a standard network). With ``W* = X†Y`` and its singular
values σ, minimum-norm interpolation ``min R(W) s.t. network(X) = Y`` has:

- weight decay ``R = ½ Σ_{l,j} ‖W_{lj}‖²_F``: primal ``(L/2) Σ σ_i^{2/L}`` (any m ≥ rank W*, and m = 1);
  dual ``(L/2) (Σ σ_i)^{2/L}`` (Lagrangian dual of the rescaled problem, see :func:`weight_decay_dual`);
- path regulariser ``R = (1/L) Σ_{l,j} ‖W_{lj}‖_F^L`` (our reading of P2's modified regulariser):
  primal with m branches ``min over partitions of the σ into ≤ m groups of Σ_g (Σ_{i∈g} σ_i^{2/L})^{L/2}``,
  which is ``‖W*‖_* = Σ σ_i`` once m ≥ rank; dual ``‖W*‖_*`` for every m;
- P1's Schatten regulariser ``R = (1/L) Σ_l ‖W_l‖^L_{S_L}`` (m = 1): primal = dual = ``‖W*‖_*``.

Two branch shapes (:data:`Branch`): ``"full"``, every branch a full-width, vector-output net (hidden widths h);
``"rank_one"``, P2's shape as secondary accounts describe it: each branch's last hidden layer has width one, so
branch j is a scalar-output net X W_{1j}⋯W_{L−1,j} (last factor h × 1) and the last layer's row j (1 × k)
combines it into the output; each branch has rank ≤ 1 and the net needs m ≥ rank W* to interpolate.

Two gap measures (:func:`gap_measures`): at a fixed rescaling t, P(t) = t^{−(L−2)} (Σσ_i^{2/L})^{L/2} against
D(t) = t^{−(L−2)} Σσ_i (:func:`fixed_t_primal`, :func:`fixed_t_dual`; their ratio does not depend on t), and
minimised over t, the primal and dual above; the minimised ratio is the fixed-t ratio to the power 2/L.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import numpy as np
import torch

from companion.duality.optim import augmented_lagrangian, lbfgs_shared
from companion.duality.deep_linear import schatten_power
from companion.core.devices import Device, resolve_device

Regularizer = Literal["weight_decay", "path", "schatten"]
REGULARIZERS: tuple[str, ...] = ("weight_decay", "path", "schatten")
Branch = Literal["full", "rank_one"]
BRANCHES: tuple[str, ...] = ("full", "rank_one")


def min_norm_solution(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """W* = X†Y (d × k); raises if XW = Y has no solution."""
    W = np.linalg.pinv(X) @ Y
    if np.linalg.norm(X @ W - Y) > 1e-8 * max(1.0, np.linalg.norm(Y)):
        raise ValueError("XW = Y has no solution (Y is not in the range of X): interpolation is infeasible")
    return W


def singular_values(X: np.ndarray, Y: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """Non-zero singular values of W* = X†Y, decreasing."""
    s = np.linalg.svd(min_norm_solution(X, Y), compute_uv=False)
    return s[s > rtol * max(s.max(initial=0.0), 1e-300)]


# ---- closed forms --------------------------------------------------------------------------------------------

def weight_decay_primal(sigma: Sequence[float], L: int) -> float:
    """(L/2) Σ σ_i^{2/L}: min ½Σ‖W_l‖² over factorisations W_1⋯W_L of a matrix with singular values σ."""
    s = np.asarray(sigma, dtype=float)
    return float(L / 2 * np.sum(s ** (2.0 / L)))


def weight_decay_dual(sigma: Sequence[float], L: int) -> float:
    """(L/2) (Σ σ_i)^{2/L}.

    The dual we solve: keep ‖W_l‖_F ≤ t for l ≤ L − 2 and dualise XW_1⋯W_L = Y. The inner minimum over
    the last two layers is finite iff ‖A_ᵀXᵀΛ‖₂ ≤ 1 for every admissible A = W_1⋯W_{L−2}, i.e.
    ‖XᵀΛ‖₂ ≤ t^{−(L−2)}, so D(t) = t^{−(L−2)} max{⟨Λ, Y⟩ : ‖XᵀΛ‖₂ ≤ 1} = t^{−(L−2)} ‖W*‖_*, and
    D = min_t [(L − 2) t²/2 + D(t)] = (L/2) ‖W*‖_*^{2/L} (at t^L = ‖W*‖_*).
    """
    s = np.asarray(sigma, dtype=float)
    return float(L / 2 * np.sum(s) ** (2.0 / L))


def fixed_t_primal(sigma: Sequence[float], L: int, t: float = 1.0) -> float:
    """P(t) = t^{−(L−2)} (Σ σ_i^{2/L})^{L/2}: min ½(‖W_{L−1}‖² + ‖W_L‖²) over factorisations W_1⋯W_L of a matrix
    with singular values σ whose first L − 2 factors have ‖W_l‖_F ≤ t (P2's rescaled primal, our derivation)."""
    if t <= 0:
        raise ValueError(f"the rescaling t must be > 0, got {t}")
    s = np.asarray(sigma, dtype=float)
    return float(t ** (-(L - 2)) * np.sum(s ** (2.0 / L)) ** (L / 2))


def fixed_t_dual(sigma: Sequence[float], L: int, t: float = 1.0) -> float:
    """D(t) = t^{−(L−2)} Σ σ_i: the Lagrangian dual of the rescaled problem at fixed t (see :func:`weight_decay_dual`)."""
    if t <= 0:
        raise ValueError(f"the rescaling t must be > 0, got {t}")
    return float(t ** (-(L - 2)) * np.sum(np.asarray(sigma, dtype=float)))


def gap_measures(sigma: Sequence[float], L: int) -> tuple[float, float]:
    """(P(t)/D(t), P/D): the ratio at a fixed rescaling t (the same for every t) and minimised over t on both
    sides; the second is the first to the power 2/L, so both are 1 exactly when the other is."""
    return (fixed_t_primal(sigma, L) / fixed_t_dual(sigma, L),
            weight_decay_primal(sigma, L) / weight_decay_dual(sigma, L))


def relative_gap_sweep(depths: Sequence[int], spreads: Sequence[float]) -> tuple[np.ndarray, bool]:
    """(P − D)/P of weight decay for σ = (1, r, r²) (zeros dropped), shape (len(depths), len(spreads)), and
    whether the gap's sign follows the closed forms' prediction everywhere: > 0 exactly when L ≥ 3 and the
    rank is ≥ 2, and never negative (1e-12 float64 rounding)."""
    gaps = np.empty((len(depths), len(spreads)))
    ok = True
    for i, L in enumerate(depths):
        for j, r in enumerate(spreads):
            sv = np.array([1.0, r, r**2])
            sv = sv[sv > 0]
            P, D = weight_decay_primal(sv, L), weight_decay_dual(sv, L)
            gaps[i, j] = (P - D) / P
            ok &= bool((P - D > 1e-12) == (L >= 3 and len(sv) >= 2) and P - D >= -1e-12)
    return gaps, ok


def path_primal(sigma: Sequence[float], L: int, m: int, branch: Branch = "full") -> float:
    """Parallel net, path regulariser, m branches: min over partitions of σ into ≤ m groups of
    Σ_groups (Σ_{i∈g} σ_i^{2/L})^{L/2} (a branch of rank r costs its Schatten-2/L quasi-norm; our formula,
    checked against training). Equals Σ σ_i once m ≥ len(σ). Exhaustive over partitions (len(σ) ≤ 10).
    ``branch="rank_one"`` (P2's shape): Σ σ_i once m ≥ len(σ), ∞ below (m rank-one branches cannot
    interpolate a target of rank > m).
    """
    if branch not in BRANCHES:
        raise ValueError(f"unknown branch shape {branch!r}: choose one of {', '.join(BRANCHES)}")
    s = np.asarray(sigma, dtype=float)
    r = len(s)
    if m >= r:
        return float(s.sum())
    if branch == "rank_one":
        return float("inf")
    if r > 10:
        raise ValueError("path_primal enumerates partitions: at most 10 singular values")
    best = np.inf
    q = s ** (2.0 / L)
    for labels in itertools.product(range(m), repeat=r):
        if labels[0] != 0:  # symmetry: the first value goes to group 0
            continue
        sums = np.bincount(labels, weights=q, minlength=m)
        best = min(best, float(np.sum(sums ** (L / 2.0))))
    return best


def path_dual(sigma: Sequence[float]) -> float:
    """‖W*‖_* = Σ σ_i: the Lagrangian dual max{⟨Λ, Y⟩ : ‖XᵀΛ‖₂ ≤ 1} for every m ≥ 1 (and for P1's Schatten regulariser)."""
    return float(np.sum(sigma))


def weight_decay_regularized(s: Sequence[float], beta: float, L: int, grid: int = 200_001) -> np.ndarray:
    """Singular values of the minimiser of ½‖W − Y‖² + (β/2)Σ‖W_l‖² (X = I), one per singular value s of Y.

    Per singular value the problem is min_{w ≥ 0} ½(s − w)² + β(L/2) w^{2/L}: a 1-D global minimisation
    done on a dense grid of [0, s] and polished by Newton steps. For L ≥ 3, w jumps to 0 below a
    threshold: weight decay's low-rank bias.
    """
    out = []
    for si in np.asarray(s, dtype=float):
        w = np.linspace(0.0, si, grid)
        f = 0.5 * (si - w) ** 2 + beta * L / 2 * w ** (2.0 / L)
        k = int(np.argmin(f))
        x = w[k]
        if x > 0:
            for _ in range(30):   # Newton on f'(w) = w − s + β w^{2/L − 1}
                g = x - si + beta * x ** (2.0 / L - 1)
                h = 1 + beta * (2.0 / L - 1) * x ** (2.0 / L - 2)
                if h <= 0:
                    break
                x = min(max(x - g / h, 1e-300), si)
        out.append(x if 0.5 * (si - x) ** 2 + beta * L / 2 * x ** (2.0 / L) <= f[0] else 0.0)
    return np.array(out)


# ---- convex programs (cvxpy) -------------------------------------------------------------------------------------

def nuclear_dual_cvx(X: np.ndarray, Y: np.ndarray) -> float:
    """max ⟨Λ, Y⟩ s.t. ‖XᵀΛ‖₂ ≤ 1 (Λ n × k), solved with cvxpy: equals ‖X†Y‖_*."""
    import cvxpy as cp

    Lam = cp.Variable(Y.shape)
    prob = cp.Problem(cp.Maximize(cp.trace(Lam.T @ Y)), [cp.sigma_max(X.T @ Lam) <= 1])
    prob.solve(solver="CLARABEL")
    return float(prob.value)


def rescaled_dual_cvx(X: np.ndarray, Y: np.ndarray, L: int, t: float = 1.0) -> float:
    """D(t) = max ⟨Λ, Y⟩ s.t. ‖XᵀΛ‖₂ ≤ t^{−(L−2)}, solved with cvxpy: the Lagrangian dual of the rescaled
    problem at a fixed t (its closed form is :func:`fixed_t_dual`)."""
    import cvxpy as cp

    Lam = cp.Variable(Y.shape)
    prob = cp.Problem(cp.Maximize(cp.trace(Lam.T @ Y)), [cp.sigma_max(X.T @ Lam) <= t ** (-(L - 2))])
    prob.solve(solver="CLARABEL")
    return float(prob.value)


def nuclear_primal_cvx(X: np.ndarray, Y: np.ndarray) -> float:
    """min ‖W‖_* s.t. XW = Y, solved with cvxpy: the convex problem the parallel net is equivalent to."""
    import cvxpy as cp

    W = cp.Variable((X.shape[1], Y.shape[1]))
    prob = cp.Problem(cp.Minimize(cp.normNuc(W)), [X @ W == Y])
    prob.solve(solver="CLARABEL")
    return float(prob.value)


def weight_decay_dual_numeric(nuclear: float, L: int) -> float:
    """The 1-D minimisation over t of (L − 2)t²/2 + t^{−(L−2)}N, done numerically (bounded scalar search)."""
    from scipy.optimize import minimize_scalar

    if L == 2:
        return float(nuclear)
    f = lambda t: (L - 2) * t**2 / 2 + t ** (-(L - 2)) * nuclear  # noqa: E731
    res = minimize_scalar(f, bounds=(1e-6, 10 * max(nuclear, 1.0) ** (1.0 / L) + 10), method="bounded",
                          options={"xatol": 1e-12})
    return float(res.fun)


# ---- non-convex training (batched restarts, augmented Lagrangian) ----------------------------------------------

def parallel_forward(Ws: Sequence[torch.Tensor], X: torch.Tensor) -> torch.Tensor:
    """Σ_j X W_{1j}⋯W_{Lj}: Ws[l] has shape (R, m, d_{l−1}, d_l), X (n, d); returns (R, n, k)."""
    Z = X.expand(Ws[0].shape[0], Ws[0].shape[1], *X.shape)
    for W in Ws:
        Z = Z @ W
    return Z.sum(1)


def regularizer(Ws: Sequence[torch.Tensor], kind: Regularizer) -> torch.Tensor:
    """R(W) for each restart; returns (R,)."""
    L = len(Ws)
    if kind == "weight_decay":
        return 0.5 * sum(W.pow(2).sum((-1, -2)).sum(-1) for W in Ws)
    if kind == "path":
        return (1.0 / L) * sum(W.pow(2).sum((-1, -2)).pow(L / 2).sum(-1) for W in Ws)
    if kind == "schatten":
        return (1.0 / L) * sum(schatten_power(W, L).sum(-1) for W in Ws)
    raise ValueError(f"unknown regularizer {kind!r}: choose one of {', '.join(REGULARIZERS)}")


@dataclass(frozen=True)
class InterpolationResult:
    value: float                # best regulariser value among feasible restarts (inf if none)
    values: np.ndarray          # (R,) regulariser value of every restart
    violations: np.ndarray      # (R,) ‖network(X) − Y‖_F of every restart
    end_to_end: np.ndarray      # best restart's Σ_j W_{1j}⋯W_{Lj}, d × k
    layer_singular_values: list[np.ndarray]  # best restart, branch 0: singular values of each layer
    seconds: float


def train_interpolation(X: np.ndarray, Y: np.ndarray, L: int, *, kind: Regularizer, m: int = 1,
                        hidden: int | None = None, branch: Branch = "full", restarts: int = 8, outer: int = 30,
                        inner: int = 200, rho: float = 10.0, feas_tol: float = 1e-6, warm_start: bool = True,
                        seed: int = 0, device: Device = "cpu", dtype: torch.dtype = torch.float64
                        ) -> InterpolationResult:
    """min R(W) s.t. Σ_j X W_{1j}⋯W_{Lj} = Y, from ``restarts`` random starts trained as one batch.

    Layer widths d, h, …, h, k (``hidden`` = h, default max(d, k)); ``branch="rank_one"`` makes the last hidden
    width of every branch 1 (P2's scalar-output branches combined by the last layer, see :data:`Branch`).

    Augmented Lagrangian: L-BFGS on R + ⟨Λ, F − Y⟩ + (ρ/2)‖F − Y‖², then Λ ← Λ + ρ(F − Y); ρ doubles when
    the constraint violation fails to halve. ``warm_start`` first fits ½‖F − Y‖² alone (a homotopy: for
    L ≥ 3 weight decay makes 0 a strict local minimum of every singular direction, which random small
    initialisations fall into). A restart counts as feasible when its violation is below
    ``feas_tol · ‖Y‖_F``.
    """
    if L < 2:
        raise ValueError(f"depth L must be ≥ 2, got {L}")
    if kind == "schatten" and m != 1:
        raise ValueError("the Schatten regulariser is P1's, for a standard network: use m = 1")
    if branch not in BRANCHES:
        raise ValueError(f"unknown branch shape {branch!r}: choose one of {', '.join(BRANCHES)}")
    d, k = X.shape[1], Y.shape[1]
    h = hidden or max(d, k)
    dims = [d] + [h] * (L - 2) + [1 if branch == "rank_one" else h, k]
    Ws, Xt, Yt = _init_layers(X, Y, dims, restarts, m, seed, device, dtype)
    t0 = time.perf_counter()
    augmented_lagrangian(Ws, lambda: parallel_forward(Ws, Xt) - Yt, lambda: regularizer(Ws, kind), outer=outer, inner=inner,
                         rho=rho, warm_start=warm_start, stop_tol=1e-10 * max(1.0, float(Yt.norm())))
    secs = time.perf_counter() - t0
    return _result(Ws, Xt, Yt, Y, lambda: regularizer(Ws, kind), feas_tol, m, secs)


def _init_layers(X: np.ndarray, Y: np.ndarray, dims: Sequence[int], restarts: int, m: int, seed: int, device: Device,
                 dtype: torch.dtype) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Random layers (restarts, m, dims[l], dims[l + 1]) scaled by 1/√dims[l], and X, Y as tensors."""
    dev = resolve_device(device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    Xt, Yt = (torch.as_tensor(a, dtype=dtype, device=dev) for a in (X, Y))
    Ws = [(torch.randn(restarts, m, dims[i], dims[i + 1], generator=gen, dtype=dtype) / np.sqrt(dims[i]))
          .to(dev).requires_grad_() for i in range(len(dims) - 1)]
    return Ws, Xt, Yt


def _result(layers: Sequence[torch.Tensor], Xt: torch.Tensor, Yt: torch.Tensor,
            Y: np.ndarray, reg: Callable[[], torch.Tensor], feas_tol: float, m: int, secs: float
            ) -> InterpolationResult:
    """Package a trained batch: ``layers`` are the network's layers (the parameters or functions of them)."""
    with torch.no_grad():
        vals = reg().cpu().numpy()
        viol = (parallel_forward(layers, Xt) - Yt).pow(2).sum((-1, -2)).sqrt().cpu().numpy()
        feasible = viol <= feas_tol * max(1.0, float(np.linalg.norm(Y)))
        masked = np.where(feasible & np.isfinite(vals), vals, np.inf)
        b = int(np.argmin(masked))
        E = sum(_chain([W[b, j] for W in layers]) for j in range(m)).cpu().numpy()
        layer_sv = [torch.linalg.svdvals(W[b, 0]).cpu().numpy() for W in layers]
    return InterpolationResult(value=float(masked[b]), values=vals, violations=viol, end_to_end=E,
                               layer_singular_values=layer_sv, seconds=secs)


def train_rescaled(X: np.ndarray, Y: np.ndarray, L: int, t: float = 1.0, *, restarts: int = 8, outer: int = 30,
                   inner: int = 200, rho: float = 10.0, feas_tol: float = 1e-6, seed: int = 0, device: Device = "cpu",
                   dtype: torch.dtype = torch.float64) -> InterpolationResult:
    """P2's rescaled primal at a fixed t, by direct optimisation: min ½(‖W_{L−1}‖² + ‖W_L‖²) s.t. X W_1⋯W_L = Y
    with ‖W_l‖_F = t for l ≤ L − 2 (each written as t·V_l/‖V_l‖_F; the bound ‖W_l‖_F ≤ t is active at the
    optimum, since a larger first layer lets the last two shrink). Standard net, widths d, max(d, k), …, k;
    augmented Lagrangian as in :func:`train_interpolation`. Its value should be :func:`fixed_t_primal`. Small t
    make the last two layers large and the problem ill-conditioned: at σ = (3, 2, 1), L = 4, t = 0.8 no restart
    reached the constraint, while t = 1 and 1.5 (the balanced scale is (Σσ)^{1/L} ≈ 1.57) do."""
    if L < 3 or t <= 0:
        raise ValueError(f"the rescaled problem needs L ≥ 3 and t > 0, got L = {L}, t = {t}")
    d, k = X.shape[1], Y.shape[1]
    h = max(d, k)
    Ws, Xt, Yt = _init_layers(X, Y, [d] + [h] * (L - 1) + [k], restarts, 1, seed, device, dtype)

    def layers() -> list[torch.Tensor]:
        return [t * W / W.pow(2).sum((-1, -2), keepdim=True).sqrt() for W in Ws[:L - 2]] + list(Ws[L - 2:])

    def reg() -> torch.Tensor:
        return 0.5 * sum(W.pow(2).sum((-1, -2)).sum(-1) for W in Ws[L - 2:])

    t0 = time.perf_counter()
    augmented_lagrangian(Ws, lambda: parallel_forward(layers(), Xt) - Yt, reg, outer=outer, inner=inner, rho=rho,
                         warm_start=True, stop_tol=1e-10 * max(1.0, float(Yt.norm())))
    secs = time.perf_counter() - t0
    return _result(layers(), Xt, Yt, Y, reg, feas_tol, 1, secs)


def _chain(mats: Sequence[torch.Tensor]) -> torch.Tensor:
    out = mats[0]
    for M in mats[1:]:
        out = out @ M
    return out


def train_regularized(Y: np.ndarray, L: int, beta: float, *, restarts: int = 8, steps: int = 2000, seed: int = 0,
                      device: Device = "cpu", dtype: torch.dtype = torch.float64) -> tuple[np.ndarray, float]:
    """min ½‖W_1⋯W_L − Y‖² + (β/2)Σ‖W_l‖² (X = I, standard net), batched restarts, L-BFGS.

    Returns (singular values of the best restart's W_1⋯W_L, its objective).
    """
    dev = resolve_device(device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    Yt = torch.as_tensor(Y, dtype=dtype, device=dev)
    d, k = Y.shape
    h = max(d, k)
    dims = [d] + [h] * (L - 1) + [k]
    Ws = [(torch.randn(restarts, dims[i], dims[i + 1], generator=gen, dtype=dtype) / np.sqrt(dims[i]))
          .to(dev).requires_grad_() for i in range(L)]

    def objective() -> torch.Tensor:
        return 0.5 * (_chain(Ws) - Yt).pow(2).sum((-1, -2)) + beta / 2 * sum(W.pow(2).sum((-1, -2)) for W in Ws)

    lbfgs_shared(Ws, objective, iters=steps)
    with torch.no_grad():
        vals = objective()
        b = int(torch.argmin(vals))
        return torch.linalg.svdvals(_chain([W[b] for W in Ws])).cpu().numpy(), float(vals[b])


def regularized_value(s: Sequence[float], w: Sequence[float], beta: float, L: int) -> float:
    """Objective ½Σ(s_i − w_i)² + β(L/2)Σ w_i^{2/L} at balanced factors with end-to-end singular values w."""
    s, w = np.asarray(s, float), np.asarray(w, float)
    return float(0.5 * np.sum((s - w) ** 2) + beta * L / 2 * np.sum(w ** (2.0 / L)))


def spectrum_instance(sigma: Sequence[float], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """X = I_d and Y = U diag(σ) Vᵀ with random orthogonal U, V (so W* = Y has singular values σ)."""
    rng = np.random.default_rng(seed)
    d = len(sigma)
    U, _ = np.linalg.qr(rng.standard_normal((d, d)))
    V, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return np.eye(d), U @ np.diag(np.asarray(sigma, float)) @ V.T
