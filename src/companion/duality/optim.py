"""L-BFGS for a batch of independent problems, each with its own curvature history and its own step size.

``torch.optim.LBFGS`` on the sum of B independent objectives treats them as one problem: one line search,
one step for all. A problem that needs a short step (a steep penalty, a kink) then shortens everyone's
step, and the others stall above their optimum. Here every problem b has its own two-loop recursion and its
own Armijo backtracking (quadratic interpolation), all as tensor operations over the batch dimension.
:func:`augmented_lagrangian` solves a batch of equality-constrained problems with either line search.
"""

from __future__ import annotations

from typing import Callable, Literal, Sequence

import numpy as np
import torch

#: how :func:`augmented_lagrangian` minimises each subproblem
LineSearch = Literal["shared", "per_problem"]
LINE_SEARCHES: tuple[str, ...] = ("shared", "per_problem")


def _flat(ts: Sequence[torch.Tensor], B: int) -> torch.Tensor:
    """Concatenate tensors of shape (B, ...) into (B, P)."""
    return torch.cat([t.reshape(B, -1) for t in ts], 1)


def _assign(params: Sequence[torch.Tensor], x: torch.Tensor) -> None:
    """Write x (B, P) back into the parameters (each (B, ...)), in place."""
    B, off = x.shape[0], 0
    with torch.no_grad():
        for p in params:
            k = p[0].numel()
            p.copy_(x[:, off:off + k].reshape(p.shape))
            off += k


def _direction(g: torch.Tensor, S: torch.Tensor, Y: torch.Tensor, rho: torch.Tensor, gamma: torch.Tensor,
               order: list[int]) -> torch.Tensor:
    """−H g by the two-loop recursion, per problem: g (B, P), S and Y (H, B, P), rho (H, B) (0 = no pair),
    gamma (B,) the initial inverse-Hessian scale; ``order`` lists history slots oldest first."""
    q = g.clone()
    alphas = {}
    for i in reversed(order):
        a = rho[i] * (S[i] * q).sum(1)
        q -= a[:, None] * Y[i]
        alphas[i] = a
    q *= gamma[:, None]
    for i in order:
        b = rho[i] * (Y[i] * q).sum(1)
        q += S[i] * (alphas[i] - b)[:, None]
    return -q


def lbfgs_per_problem(params: Sequence[torch.Tensor], objective: Callable[[], torch.Tensor], *, iters: int,
                      history: int = 10, c1: float = 1e-4, backtracks: int = 30, grad_tol: float = 1e-12,
                      ftol: float = 1e-13) -> torch.Tensor:
    """Minimise ``objective()[b]`` over ``params[k][b]`` for every b independently, in place.

    params: tensors of shape (B, ...) with requires_grad; objective(): (B,), problem b depending only on
    slice b of every parameter. Each iteration: a per-problem L-BFGS direction (steepest descent after a
    reset), then per-problem backtracking from step 1 (each trial the minimiser of the quadratic through
    f(x), its slope and the last trial, within [t/10, t/2]) until Armijo's condition f(x + t d) ≤ f(x) + c1 t ⟨g, d⟩
    holds (up to rounding, 4 ulp of |f|); a problem whose search fails takes no step and restarts its
    history. A problem stops after two failures in a row, once ‖g‖∞ ≤ grad_tol, or once a step lowers f by
    less than ftol·(1 + |f|) with a curvature history; all stop when every problem has. Curvature pairs with ⟨s, y⟩ ≤ 0 are skipped.
    Returns the final objective values (B,).
    """
    if iters < 1 or history < 1 or backtracks < 1:
        raise ValueError(f"need iters, history, backtracks ≥ 1, got {iters}, {history}, {backtracks}")
    B = params[0].shape[0]
    if any(p.shape[0] != B for p in params):
        raise ValueError("every parameter must have the batch dimension B first")

    def value_and_grad() -> tuple[torch.Tensor, torch.Tensor]:
        for p in params:
            p.grad = None
        f = objective()
        f.sum().backward()
        return f.detach(), _flat([p.grad if p.grad is not None else torch.zeros_like(p) for p in params], B)

    x = _flat([p.detach() for p in params], B).clone()
    f, g = value_and_grad()
    P = x.shape[1]
    S = x.new_zeros(history, B, P)
    Yh = x.new_zeros(history, B, P)
    rho = x.new_zeros(history, B)
    gamma = torch.clamp(1.0 / g.abs().sum(1).clamp(min=1e-300), max=1.0)
    failures = torch.zeros(B, dtype=torch.long, device=x.device)
    stalled = torch.zeros(B, dtype=torch.bool, device=x.device)
    slack = 4 * torch.finfo(x.dtype).eps
    order: list[int] = []
    for it in range(iters):
        active = (failures < 2) & (g.abs().amax(1) > grad_tol) & ~stalled
        if not bool(active.any()):
            break
        d = _direction(g, S, Yh, rho, gamma, order)
        gd = (g * d).sum(1)
        bad = ~(gd < 0)                                   # not a descent direction (or NaN): steepest descent
        if bool(bad.any()):
            d[bad] = -g[bad] * torch.clamp(1.0 / g[bad].abs().sum(1, keepdim=True).clamp(min=1e-300), max=1.0)
            gd = (g * d).sum(1)
        d[~active] = 0.0
        t = torch.ones(B, dtype=x.dtype, device=x.device)
        pending = active.clone()
        with torch.no_grad():
            for _ in range(backtracks):
                _assign(params, x + t[:, None] * d)
                ft = objective()
                ok = ft <= f + c1 * t * gd + slack * f.abs()  # False for NaN
                pending &= ~ok
                if not bool(pending.any()):
                    break
                # minimiser of the quadratic through f, its slope gd and f(x + t d), kept in [t/10, t/2]
                curv = (ft - f - gd * t).clamp(min=1e-300)
                t_new = torch.nan_to_num(-gd * t * t / (2 * curv), nan=0.5).clamp(min=0.1 * t, max=0.5 * t)
                t = torch.where(pending, torch.where(torch.isfinite(ft), t_new, 0.1 * t), t)
        t = torch.where(pending | ~active, torch.zeros_like(t), t)
        failed = pending & active
        failures = torch.where(failed, failures + 1, torch.where(active, torch.zeros_like(failures), failures))
        x_new = x + t[:, None] * d
        _assign(params, x_new)
        f_new, g_new = value_and_grad()
        quasi_newton = (rho > 0).any(0)                    # a step from a curvature history, not a first step
        stalled |= active & ~failed & quasi_newton & (f - f_new <= ftol * (1 + f.abs()))
        s, yv = x_new - x, g_new - g
        sy = (s * yv).sum(1)
        good = (sy > 1e-12 * s.norm(dim=1) * yv.norm(dim=1)) & (t > 0)
        slot = it % history
        if slot in order:
            order.remove(slot)
        order.append(slot)
        S[slot], Yh[slot] = s, yv
        rho[slot] = torch.where(good, 1.0 / sy.clamp(min=1e-300), torch.zeros_like(sy))
        gamma = torch.where(good, sy / (yv * yv).sum(1).clamp(min=1e-300), gamma)
        if bool(failed.any()):                               # forget the history of a problem whose search failed
            rho[:, failed] = 0.0
            gamma = torch.where(failed, torch.clamp(1.0 / g_new.abs().sum(1).clamp(min=1e-300), max=1.0), gamma)
        x, f, g = x_new, f_new, g_new
    return f


def lbfgs_shared(params: Sequence[torch.Tensor], objective: Callable[[], torch.Tensor], *, iters: int) -> None:
    """torch's L-BFGS (history 50, strong-Wolfe line search, tolerances at float64 rounding) on the SUM of the
    batch of objectives ``objective()`` (B,), in place: one shared line search for all problems (compare
    :func:`lbfgs_per_problem`)."""
    opt = torch.optim.LBFGS(list(params), lr=1.0, max_iter=iters, history_size=50, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-12, tolerance_change=1e-16)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = objective().sum()
        loss.backward()
        return loss

    opt.step(closure)


def augmented_lagrangian(params: Sequence[torch.Tensor], residual: Callable[[], torch.Tensor],
                         reg: Callable[[], torch.Tensor], *, outer: int, inner: int, rho: float = 10.0,
                         warm_start: bool = True, stop_tol: float = 0.0, rho_max: float = np.inf,
                         line_search: LineSearch = "shared") -> None:
    """min reg s.t. residual = 0 for a batch of independent problems, updating ``params`` in place.

    ``residual()`` returns (B, ...) (one constraint block per problem), ``reg()`` returns (B,). L-BFGS on
    reg + ⟨Λ, F⟩ + (ρ/2)‖F‖², then Λ ← Λ + ρF; ρ doubles for a problem whose violation ‖F‖ failed to
    halve, up to ``rho_max``. ``line_search="shared"``: ``torch.optim.LBFGS`` on the sum over the batch,
    one strong-Wolfe step for all problems (one hopeless problem with a huge ρ stalls the others);
    ``"per_problem"``: :func:`lbfgs_per_problem`, each problem its own history and
    step. ``warm_start`` first minimises ½‖F‖² alone (a homotopy onto the constraint set). Stops early once
    every violation is below ``stop_tol``.
    """
    if line_search not in LINE_SEARCHES:
        raise ValueError(f"unknown line search {line_search!r}: choose one of {', '.join(LINE_SEARCHES)}")

    def minimise(objective: Callable[[], torch.Tensor]) -> None:
        """Minimise every entry of objective() (B,) over its own slice of ``params``."""
        if line_search == "per_problem":
            lbfgs_per_problem(params, objective, iters=inner)
            return
        lbfgs_shared(params, objective, iters=inner)

    if warm_start:
        minimise(lambda: 0.5 * residual().pow(2).flatten(1).sum(1))
    with torch.no_grad():
        F0 = residual()
    Lam = torch.zeros_like(F0)
    rho_t = torch.full((F0.shape[0],) + (1,) * (F0.dim() - 1), rho, dtype=F0.dtype, device=F0.device)
    prev = torch.full((F0.shape[0],), torch.inf, dtype=F0.dtype, device=F0.device)
    for _ in range(outer):
        def lagrangian() -> torch.Tensor:
            F = residual()
            return reg() + (Lam * F).flatten(1).sum(1) + (rho_t / 2 * F.pow(2)).flatten(1).sum(1)

        minimise(lagrangian)
        with torch.no_grad():
            F = residual()
            Lam += rho_t * F
            viol = F.pow(2).flatten(1).sum(1).sqrt()
            rho_t[viol > 0.5 * prev] *= 2.0
            rho_t.clamp_(max=rho_max)
            prev = viol
            if float(viol.max()) < stop_tol:
                break
