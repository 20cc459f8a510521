"""Measures of landscapes: the non-convexity score of a surface, and window-independent measures of
triples of solutions.

The score (:func:`nonconvexity_score`) is the distance of a surface to its lower convex envelope, normalised
by the surface's range; it depends on the window, so :func:`score_vs_window` reports it as a function of the
window radius, never at one window. Window-independent: the Jensen gap at the centre of a triple
(:func:`jensen_gaps`) and the largest barrier along each of its three segments θᵢ → θⱼ
(:func:`segment_barriers`), both to be divided by the zero function's loss (:func:`zero_loss`).

Whether a training run converged (:func:`converged`): its rule stopped it before the step cap, or its
full-data loss changed by at most a registered tolerance (÷ the zero function's loss, the measures' unit)
over the last tenth of the cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from companion.landscapes.evaluate import evaluate_fast
from companion.landscapes.plane import Plane, window_grid
from companion.training.losses import LossFn
from companion.training.nets import Scale, forward


@dataclass(frozen=True)
class Score:
    """Non-convexity of a surface: distance to its lower convex envelope, normalised by the surface's range
    (``max``, ``mean``), and the largest distance in the surface's own units (``gap``)."""

    max: float
    mean: float
    gap: float = 0.0


def lower_envelope_2d(L: np.ndarray, alphas: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """The lower convex envelope of the surface L (nb, na) on the grid, at the grid points (3-D lower hull)."""
    from scipy.spatial import ConvexHull

    ga, gb = np.meshgrid(alphas, betas)
    pts = np.stack([ga.ravel(), gb.ravel(), L.ravel()], 1)
    hull = ConvexHull(pts)
    eq = hull.equations                                   # a·x + b·y + c·z + e = 0, outward normals
    lower = eq[eq[:, 2] < -1e-12]
    # on a lower facet z = −(a x + b y + e)/c; the envelope is the max over these affine minorants
    planes = -(lower[:, 0, None] * pts[None, :, 0] + lower[:, 1, None] * pts[None, :, 1] + lower[:, 3, None]) / lower[:, 2, None]
    return np.minimum(planes.max(0), pts[:, 2]).reshape(L.shape)


def nonconvexity_score(L: np.ndarray, alphas: np.ndarray, betas: np.ndarray) -> Score:
    """max and mean of (L − lower convex envelope of L) / (max L − min L) over the grid, and max of
    L − envelope unnormalised; all 0 for a convex surface.

    The range-normalised score measures shape only: a nearly flat surface with a small bump scores as
    high as a tall barrier. ``gap`` keeps the height, to be divided by a scale fixed by the problem.
    """
    rng = float(L.max() - L.min())
    if rng <= 0:
        return Score(0.0, 0.0, 0.0)
    gap = L - lower_envelope_2d(L, alphas, betas)
    return Score(max=float(gap.max() / rng), mean=float(gap.mean() / rng), gap=float(gap.max()))


# ---- window-independent measures of triples of solutions, and the score as a function of the window ----

PAIRS = ((0, 1), (0, 2), (1, 2))


def losses_of(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *,
              scale: Scale = "sum", max_elements: int = 2**24, branch_chunk: int | None = None) -> torch.Tensor:
    """(S,) loss of each of the S networks in ``layers`` (each (S, I, ·, ·)) on (x, y), in chunks of networks
    of at most ``max_elements`` hidden activations (and of ``branch_chunk`` branches, for huge I)."""
    S, I = layers[0].shape[:2]
    step = max(1, max_elements // max(min(I, branch_chunk or I) * layers[0].shape[2] * x.shape[0], 1))
    with torch.no_grad():
        return torch.cat([loss_fn(forward([W[a:a + step] for W in layers], x, scale=scale, branch_chunk=branch_chunk), y)
                          for a in range(0, S, step)])


def zero_loss(loss_fn: LossFn, y: torch.Tensor, n_out: int, *, dtype: torch.dtype = torch.float32) -> float:
    """The loss of the zero function f ≡ 0 on targets y (n,): the scale gaps and barriers are divided by."""
    return float(loss_fn(torch.zeros(1, y.shape[0], n_out, dtype=dtype, device=y.device), y)[0])


def _triples(layers: Sequence[torch.Tensor]) -> int:
    S = layers[0].shape[0]
    if S % 3:
        raise ValueError(f"need triples of solutions (S a multiple of 3), got S = {S}")
    return S // 3


def jensen_gaps(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *,
                scale: Scale = "sum", solution_losses: torch.Tensor | None = None,
                branch_chunk: int | None = None) -> np.ndarray:
    """(T,) Jensen gap at the centre of each triple: L(mean of θ₃ₜ, θ₃ₜ₊₁, θ₃ₜ₊₂) − mean of their losses.

    ``layers``: (3T, I, ·, ·), triple t = networks 3t, 3t+1, 3t+2. ≤ 0 wherever L is convex on the triangle.
    Divide by :func:`zero_loss` for the normalised gap. ``solution_losses`` (3T,): reuse them if known."""
    T = _triples(layers)
    centres = [W.reshape(T, 3, *W.shape[1:]).mean(1) for W in layers]
    Lc = losses_of(centres, x, y, loss_fn, scale=scale, branch_chunk=branch_chunk)
    Ls = losses_of(layers, x, y, loss_fn, scale=scale, branch_chunk=branch_chunk) if solution_losses is None \
        else solution_losses
    return (Lc - Ls.reshape(T, 3).mean(1)).double().cpu().numpy()


def segment_losses(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn,
                   ts: np.ndarray, *, scale: Scale = "sum", branch_chunk: int | None = None) -> np.ndarray:
    """(T, 3, K) loss at (1 − t)θᵢ + tθⱼ for the pairs (1,2), (1,3), (2,3) of each triple and t in ``ts`` (K,).

    A segment is a degenerate plane (centre θᵢ, axes θⱼ − θᵢ and 0), so :func:`evaluate_fast` computes its
    first-layer products once and evaluates all K points from them."""
    T = _triples(layers)
    out = np.empty((T, 3, len(ts)))
    for t in range(T):
        for k, (i, j) in enumerate(PAIRS):
            a, b = 3 * t + i, 3 * t + j
            seg = Plane(center=[W[a:a + 1] for W in layers], d1=[W[b:b + 1] - W[a:a + 1] for W in layers],
                        d2=[W.new_zeros(()).expand_as(W[a:a + 1]) for W in layers],   # zeros, no memory
                        points=np.zeros((0, 2)))
            out[t, k] = evaluate_fast(seg, x, y, loss_fn, np.asarray(ts, float), np.zeros(1), scale=scale,
                                      branch_chunk=branch_chunk)[0]
            del seg                            # one segment's axis at a time (a network's worth at huge I)
    return out


def segment_barriers(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *,
                     K: int = 21, scale: Scale = "sum", branch_chunk: int | None = None) -> np.ndarray:
    """(T, 3) largest barrier along each segment θᵢ → θⱼ of each triple (mode-connectivity convention):
    max over t ∈ [0, 1] (K evenly spaced points, ends included) of L((1 − t)θᵢ + tθⱼ) − ((1 − t)L(θᵢ) + tL(θⱼ)).
    ≥ 0 (0 at the ends); 0 for a loss convex along the segment."""
    if K < 2:
        raise ValueError(f"need K ≥ 2 points along a segment, got {K}")
    ts = np.linspace(0.0, 1.0, K)
    L = segment_losses(layers, x, y, loss_fn, ts, scale=scale, branch_chunk=branch_chunk)   # (T, 3, K)
    line = (1 - ts) * L[..., :1] + ts * L[..., -1:]
    return np.maximum((L - line).max(-1), 0.0)



def score_vs_window(plane: Plane, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, radii: Sequence[float], *,
                    G: int, scale: Scale = "sum") -> list[Score]:
    """The range-normalised non-convexity score of the plane's surface on a G×G window of each radius in
    ``radii`` (units of ‖θ₃‖): the score is a function of the window, reported as one."""
    out = []
    for r in radii:
        g = window_grid(plane, r, G)
        out.append(nonconvexity_score(evaluate_fast(plane, x, y, loss_fn, g, g, scale=scale), g, g))
    return out


def converged(history: np.ndarray | torch.Tensor, steps_taken: np.ndarray | torch.Tensor,
              final_loss: np.ndarray | torch.Tensor, cap: int, *, check_every: int, rel_tol: float, scale: float,
              window: float = 0.1) -> np.ndarray:
    """(S,) bool: which of S runs converged.

    ``history`` (checks, S): the full-data loss at steps 0, ``check_every``, 2·``check_every``, … (NaN once a
    run has stopped), as :class:`companion.training.train.TrainResult` records it; ``steps_taken`` and
    ``final_loss`` (S,).
    A run converged if its rule stopped it before ``cap`` (the authors' rule stopping by itself, or the loss
    reaching the stop loss), or if its loss changed by at most ``rel_tol``·``scale`` between the last check
    and the check ``window``·``cap`` steps before it (at least one check interval before; ``scale``: the zero
    function's loss, the unit of the landscape measures). A run whose final loss is not finite (it diverged)
    never converged."""
    if rel_tol < 0 or scale <= 0 or not 0 < window <= 1 or check_every < 1 or cap < 0:
        raise ValueError(f"need rel_tol ≥ 0, scale > 0, 0 < window ≤ 1, check_every ≥ 1, cap ≥ 0; got {rel_tol}, "
                         f"{scale}, {window}, {check_every}, {cap}")
    as_np = lambda a, dt: np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, dtype=dt)
    h, taken, final = as_np(history, float), as_np(steps_taken, int), as_np(final_loss, float)
    if h.ndim != 2 or taken.shape != (h.shape[1],) or final.shape != taken.shape:
        raise ValueError(f"history must be (checks, S), steps_taken and final_loss (S,); got {h.shape}, "
                         f"{taken.shape}, {final.shape}")
    back = max(1, int(round(window * cap / check_every)))       # checks in the last tenth of the cap
    last = cap // check_every                                    # the check at the cap
    out = taken < cap
    if last - back >= 0 and last < h.shape[0]:
        end, start = h[last], h[last - back]
        out |= np.isfinite(start) & (np.abs(end - start) <= rel_tol * scale)
    return out & np.isfinite(final)
