"""Loss landscapes on a plane through parameter space, and a non-convexity score.

A plane is ``θ(α, β) = c + α d₁ + β d₂``. The plane through three solutions has centre ``c`` = their
mean and axes ``θ₁ − θ₂`` and ``θ₁ − θ₃``, scaled either to unit norm (``axes="unit"``, ours) or each to
‖θ₃‖ (``axes="authors"``, as the authors' ``fully_connected.py`` does, plotted on
``linspace(−range, range)``); the other option is filter-normalised random directions (Li et al. 2018).
``Plane.unit`` is the length ‖θ₃‖ in plane coordinates, so windows are stated in units of ‖θ₃‖ either way.

Window-independent measures of a triple of solutions (below the evaluators): the Jensen gap at the
centre and the largest barrier along each of the three segments θᵢ → θⱼ; and the range-normalised
score as a *function* of the window radius (:func:`score_vs_window`), never at one window.

Fast evaluation: the first layer's pre-activation is linear along the plane,
``W₁(α, β)X = W₁ᶜX + α D₁X + β D₂X``, so the three products are computed once (per branch chunk),
and many grid points are then evaluated per batched operation; later layers are formed per grid point
in batch. Chunks over grid points and branches bound memory. :func:`evaluate_naive` is the baseline
(set the weights, full forward, one grid point at a time).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import numpy as np
import torch

from companion.nets import Layers, Scale, forward

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Axes = Literal["unit", "authors"]


@dataclass(frozen=True)
class Plane:
    center: Layers            # each (1, I, ·, ·)
    d1: Layers
    d2: Layers
    points: np.ndarray        # (k, 2) plane coordinates of the solutions it was built from (k = 0 for random)
    unit: float = 1.0         # ‖θ₃‖ in plane coordinates (1 for random planes): windows are in units of it


def _norm(layers: Sequence[torch.Tensor]) -> torch.Tensor:
    """Euclidean norm of all layers together, as a float64 scalar (per-layer BLAS norms, no temporaries)."""
    return torch.sqrt(sum(torch.linalg.vector_norm(W).double() ** 2 for W in layers))


def plane_from_solutions(layers: Sequence[torch.Tensor], *, axes: Axes = "unit",
                         trainable: Sequence[torch.Tensor] | None = None) -> Plane:
    """The plane through three solutions (``layers`` has S = 3): centre = mean, axes θ₁ − θ₂ and θ₁ − θ₃,
    each scaled to unit norm (``axes="unit"``) or to ‖θ₃‖ (``"authors"``); returns their coordinates too.

    ``trainable``: per-layer 0/1 masks (broadcastable to each layer) of the real parameters; entries
    outside them (a frozen constant unit, see :func:`companion.nets.init_default`) are left out of ‖θ₃‖.
    """
    if layers[0].shape[0] != 3:
        raise ValueError(f"need exactly 3 solutions, got {layers[0].shape[0]}")
    if axes not in ("unit", "authors"):
        raise ValueError(f"unknown axes {axes!r}: choose 'unit' or 'authors'")
    c = [W.mean(0, keepdim=True) for W in layers]
    d1 = [W[0:1] - W[1:2] for W in layers]
    d2 = [W[0:1] - W[2:3] for W in layers]
    n1, n2 = _norm(d1), _norm(d2)
    if float(n1) == 0 or float(n2) == 0:
        raise ValueError("two of the three solutions coincide: the plane is undefined")
    third = [W[2:3] if m is None else W[2:3] * m for W, m in zip(layers, trainable or [None] * len(layers))]
    n3 = float(_norm(third))
    length = n3 if axes == "authors" else 1.0
    d1 = [D * (length / n1).to(D.dtype) for D in d1]
    d2 = [D * (length / n2).to(D.dtype) for D in d2]
    # coordinates of the three solutions: least squares in the (non-orthogonal) basis d1, d2, from the 2×2
    # normal equations, one BLAS dot product per layer (no parameter-sized temporaries: I can be 50 000)
    dot = lambda a, b: sum(float(torch.dot(A.reshape(-1), B.reshape(-1))) for A, B in zip(a, b))
    gram = np.array([[dot(d1, d1), dot(d1, d2)], [dot(d2, d1), dot(d2, d2)]])
    pts = []
    for s in range(3):
        v = [W[s:s + 1] - C for W, C in zip(layers, c)]
        pts.append(np.linalg.solve(gram, np.array([dot(d1, v), dot(d2, v)])))
    return Plane(center=c, d1=d1, d2=d2, points=np.array(pts), unit=n3 / length)


def random_plane(center: Sequence[torch.Tensor], seed: int, *, filter_normalize: bool = True) -> Plane:
    """Two random Gaussian directions at ``center`` (S = 1); filter-normalised: each row of each branch's
    weight matrix (a 'filter') rescaled to the norm of the same row of the centre."""
    g = torch.Generator().manual_seed(seed)
    dirs = []
    for _ in range(2):
        d = [torch.randn(W.shape, generator=g, dtype=torch.float64).to(W) for W in center]
        if filter_normalize:
            d = [D * (W.norm(dim=-1, keepdim=True) / D.norm(dim=-1, keepdim=True).clamp_min(1e-12)) for D, W in zip(d, center)]
        dirs.append(d)
    return Plane(center=list(center), d1=dirs[0], d2=dirs[1], points=np.zeros((0, 2)))


def plane_point(plane: Plane, alpha: float, beta: float) -> Layers:
    """θ(α, β) as layers with S = 1."""
    return [C + alpha * A + beta * B for C, A, B in zip(plane.center, plane.d1, plane.d2)]


def evaluate_naive(plane: Plane, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, alphas: np.ndarray,
                   betas: np.ndarray, *, scale: Scale = "sum") -> np.ndarray:
    """The baseline: for every grid point set the weights and run the full forward. Returns (len(betas), len(alphas))."""
    out = np.empty((len(betas), len(alphas)))
    with torch.no_grad():
        for i, b in enumerate(betas):
            for j, a in enumerate(alphas):
                out[i, j] = float(loss_fn(forward(plane_point(plane, float(a), float(b)), x, scale=scale), y)[0])
    return out


def evaluate_fast(plane: Plane, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, alphas: np.ndarray,
                  betas: np.ndarray, *, scale: Scale = "sum", max_elements: int = 2**20,
                  branch_chunk: int | None = None) -> np.ndarray:
    """Loss on the grid (len(betas), len(alphas)) with the first layer's three products computed once per
    branch chunk and grid points evaluated in batches of size ``max_elements // (I_chunk·h·n)``."""
    C0, A0, B0 = plane.center[0][0], plane.d1[0][0], plane.d2[0][0]     # (I, h, d)
    I, h, d = C0.shape
    n = x.shape[0]
    x = x.to(C0)
    ga, gb = np.meshgrid(alphas, betas)                                  # (nb, na)
    al = torch.as_tensor(ga.reshape(-1), dtype=C0.dtype, device=C0.device)
    be = torch.as_tensor(gb.reshape(-1), dtype=C0.dtype, device=C0.device)
    G = al.numel()  # grid chunks of max_elements = 2^20 stay cache-sized: larger ones were up to 3× slower here
    n_out = plane.center[-1].shape[2]
    total = torch.zeros(G, n_out, n, dtype=C0.dtype, device=C0.device)
    bc = branch_chunk or I
    with torch.no_grad():
        for i0 in range(0, I, bc):
            sl = slice(i0, min(i0 + bc, I))
            Ic = sl.stop - sl.start
            # the three products, once: (Ic, h, n) each
            P = torch.stack([(W[sl].reshape(-1, d) @ x.T) for W in (C0, A0, B0)]).reshape(3, -1)   # (3, Ic·h·n)
            coef = torch.stack([torch.ones_like(al), al, be], 1)                                  # (G, 3)
            rest = [(C[0, sl], A[0, sl], B[0, sl]) for C, A, B in zip(plane.center[1:], plane.d1[1:], plane.d2[1:])]
            step = max(1, max_elements // max(Ic * h * n, 1))
            for g0 in range(0, G, step):
                a = al[g0:g0 + step, None, None, None]
                b = be[g0:g0 + step, None, None, None]
                # first layer for a chunk of grid points: one GEMM with K = 3, [1, α, β] @ [P0; P1; P2]
                z = (coef[g0:g0 + step] @ P).view(-1, Ic, h, n)          # (B, Ic, h, n)
                for C, A, Bd in rest[:-1]:
                    W = C + a * A + b * Bd                                # (B, Ic, h', h)
                    z = torch.matmul(W, torch.relu_(z))
                if rest:
                    C, A, Bd = rest[-1]
                    W = C + a * A + b * Bd                                # (B, Ic, out, h)
                    Bn = W.shape[0]
                    act = torch.relu_(z).reshape(Bn, Ic * z.shape[2], n)
                    total[g0:g0 + step] += torch.bmm(W.permute(0, 2, 1, 3).reshape(Bn, n_out, -1), act)
                else:
                    total[g0:g0 + step] += z.sum(1)
        if scale == "mean":
            total /= I
        loss = torch.cat([loss_fn(total[g0:g0 + 256].transpose(1, 2), y.to(C0.device)) for g0 in range(0, G, 256)])
    return loss.reshape(len(betas), len(alphas)).cpu().double().numpy()


@dataclass(frozen=True)
class Benchmark:
    fast_seconds: float
    naive_seconds: float
    max_rel_diff: float

    @property
    def speedup(self) -> float:
        return self.naive_seconds / self.fast_seconds


def benchmark_plane(plane: Plane, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, alphas: np.ndarray,
                    betas: np.ndarray, *, scale: Scale = "sum") -> tuple[np.ndarray, Benchmark]:
    """Both evaluators on the same grid: (fast values, timings and their largest relative difference)."""
    t0 = time.perf_counter()
    fast = evaluate_fast(plane, x, y, loss_fn, alphas, betas, scale=scale)
    t1 = time.perf_counter()
    naive = evaluate_naive(plane, x, y, loss_fn, alphas, betas, scale=scale)
    t2 = time.perf_counter()
    rel = float(np.max(np.abs(fast - naive) / np.maximum(np.abs(naive), 1e-12)))
    return fast, Benchmark(fast_seconds=t1 - t0, naive_seconds=t2 - t1, max_rel_diff=rel)


def grid_for(plane: Plane, G: int, margin: float = 0.5) -> np.ndarray:
    """G coordinates spanning the solutions' coordinates with a margin (symmetric; [−1, 1] for random planes)."""
    r = float(np.abs(plane.points).max()) * (1 + margin) if len(plane.points) else 1.0
    return np.linspace(-r, r, G)


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
                        d2=[torch.zeros_like(W[a:a + 1]) for W in layers], points=np.zeros((0, 2)))
            out[t, k] = evaluate_fast(seg, x, y, loss_fn, np.asarray(ts, float), np.zeros(1), scale=scale,
                                      branch_chunk=branch_chunk)[0]
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


def window_grid(plane: Plane, radius: float, G: int) -> np.ndarray:
    """G plane coordinates spanning ±``radius``·‖θ₃‖ (the authors' ``linspace(−range, range)`` for their axes)."""
    if radius <= 0 or G < 2:
        raise ValueError(f"need radius > 0 and G ≥ 2, got {radius}, {G}")
    return np.linspace(-radius * plane.unit, radius * plane.unit, G)


def score_vs_window(plane: Plane, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, radii: Sequence[float], *,
                    G: int, scale: Scale = "sum") -> list[Score]:
    """The range-normalised non-convexity score of the plane's surface on a G×G window of each radius in
    ``radii`` (units of ‖θ₃‖): the score is a function of the window, reported as one."""
    out = []
    for r in radii:
        g = window_grid(plane, r, G)
        out.append(nonconvexity_score(evaluate_fast(plane, x, y, loss_fn, g, g, scale=scale), g, g))
    return out
