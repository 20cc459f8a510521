"""Minkowski averages of a non-convex set and their Hausdorff distance to its convex hull (P1 Fig 3).

The set is a planar unit ball ``A`` that is *unconditional* (closed under sign flips of either
coordinate and under shrinking ``|x|`` or ``|y|``), such as the ℓp ball for 0 < p ≤ 1. Such a set is
fixed by its first-quadrant *profile* ``g`` (decreasing, ``g(0) = 1``, ``g(1) = 0``):
``A ∩ Q1 = {(x, y) : 0 ≤ x ≤ 1, 0 ≤ y ≤ g(x)}``.

Minkowski sums of unconditional sets are unconditional, and the first-quadrant part of
``A + … + A`` (I copies) is the hypograph of the *max-plus convolution*
``G_I(x) = max{Σ_j g(x_j) : Σ_j x_j = x, 0 ≤ x_j ≤ 1}``. We compute ``G_I`` exactly on the grid
``x = k/N`` by dynamic programming (restricting the ``x_j`` to the grid; for convex profiles such as
the ℓ½ ball the optimum lies on the grid, and the tests check the DP against brute force).

Hausdorff distance. Because the average ``S_I`` lies inside ``conv A`` and both are down-closed in
Q1, ``d_H(S_I, conv A) = max_{p on the hull's boundary} min_{b ∈ ∂S_I} ‖(p − b)₊‖`` (moving ``p``
outwards never brings it closer to a down-closed set). Sampling ``∂S_I`` at points of ``S_I``
over-estimates the distance by at most ``max_k min(Δx_k, |Δy_k|)`` over consecutive samples, and
sampling the hull's boundary under-estimates it by at most half the spacing of those samples.
:func:`hausdorff_to_hull` returns both the distance and that resolution.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from companion.core import seeds as seedlib

from companion.core.devices import Device
from companion.convexity.tropical import max_plus_convolve, upper_hull

__all__ = [
    "lp_profile",
    "minkowski_profiles",
    "upper_concave_envelope",
    "hausdorff_to_hull",
    "HausdorffResult",
    "distance_to_downset",
    "profile_polygon",
    "minkowski_average_points",
    "hausdorff_points",
    "sample_lp_ball",
    "starr_bound",
    "l_half_distance",
    "MinkowskiStudy",
    "minkowski_study",
    "sampled_outside",
]


def lp_profile(p: float, N: int, *, dtype: torch.dtype = torch.float64, device: Device = "cpu"
               ) -> torch.Tensor:
    """Profile ``g(x) = (1 − x^p)^{1/p}`` of the ℓp unit ball on the grid ``x = k/N``; shape (N+1,)."""
    if not 0 < p:
        raise ValueError(f"p must be > 0, got {p}")
    if N < 1:
        raise ValueError(f"N must be ≥ 1, got {N}")
    x = torch.linspace(0.0, 1.0, N + 1, dtype=dtype, device=device)
    return (1.0 - x.pow(p)).clamp_min(0.0).pow(1.0 / p)


def minkowski_profiles(g: torch.Tensor, I_max: int) -> list[torch.Tensor]:
    """Profiles of the Minkowski *averages* of 1…I_max copies of the set with profile ``g``.

    ``g``: shape (N+1,), values on ``x = k/N``. Returns a list whose entry ``I − 1`` has shape
    (I·N + 1,): the average's profile ``G_I(I·x)/I`` on the finer grid ``x = j/(I·N)``.
    """
    if I_max < 1:
        raise ValueError(f"I_max must be ≥ 1, got {I_max}")
    out = [g.clone()]
    G = g.clone()
    for I in range(2, I_max + 1):
        G = max_plus_convolve(G, g)
        out.append(G / I)
    return out


def upper_concave_envelope(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of the least concave majorant of points (x, y) sorted by x (the hull of a profile)."""
    return upper_hull(x, y)


@dataclass(frozen=True)
class HausdorffResult:
    """Hausdorff distance and its resolution: ``|distance − exact| ≤ resolution``."""

    distance: float
    resolution: float
    argmax: tuple[float, float]


def hausdorff_to_hull(profile: torch.Tensor, hull_x: np.ndarray, hull_y: np.ndarray, *, n_face: int = 2001,
                      chunk: int = 512) -> HausdorffResult:
    """``d_H`` between the down-closed set with profile ``profile`` and the hull with vertices (hull_x, hull_y).

    ``profile``: shape (K+1,), decreasing, values on ``x = j/K``; ``n_face`` points are placed on the
    hull's boundary in the first quadrant (by symmetry of unconditional sets, the other quadrants
    give the same distance).
    """
    K = profile.numel() - 1
    dev, dt = profile.device, profile.dtype
    xs = torch.linspace(0.0, 1.0, K + 1, dtype=dt, device=dev)
    # Between consecutive samples b_k, b_{k+1} of a decreasing boundary, every boundary point b* satisfies
    # b* ≤ b_k + (Δx, 0) and b* ≤ b_{k+1} + (0, |Δy|), so ‖(p − b)₊‖ over samples over-estimates the
    # distance by at most min(Δx, |Δy|).
    gap = float(torch.minimum(torch.diff(xs), torch.diff(profile).abs()).max())
    # points on the hull's boundary (piecewise linear through its vertices), by arc length
    hx, hy = torch.as_tensor(hull_x, dtype=dt, device=dev), torch.as_tensor(hull_y, dtype=dt, device=dev)
    seg = torch.sqrt(torch.diff(hx) ** 2 + torch.diff(hy) ** 2)
    cum = torch.cat([torch.zeros(1, dtype=dt, device=dev), torch.cumsum(seg, 0)])
    s = torch.linspace(0.0, float(cum[-1]), n_face, dtype=dt, device=dev)
    idx = torch.searchsorted(cum, s, right=True).clamp(1, len(cum) - 1) - 1
    t = ((s - cum[idx]) / seg[idx]).clamp(0, 1)
    face = torch.stack([hx[idx] + t * (hx[idx + 1] - hx[idx]), hy[idx] + t * (hy[idx + 1] - hy[idx])], 1)
    face_spacing = float(cum[-1]) / max(n_face - 1, 1)
    best = distance_to_downset(face, profile, chunk=chunk)
    k = int(torch.argmax(best))
    return HausdorffResult(distance=float(best[k]), resolution=gap + face_spacing / 2,
                           argmax=(float(face[k, 0]), float(face[k, 1])))


def distance_to_downset(points: torch.Tensor, profile: torch.Tensor, *, chunk: int = 512) -> torch.Tensor:
    """Distance from points (P, 2) in Q1 to the down-closed set with ``profile`` (K+1,) on ``x = j/K``.

    Uses the boundary samples ``b_j = (j/K, profile_j)``: ``min_j ‖(p − b_j)₊‖`` (0 inside); see
    :func:`hausdorff_to_hull` for the resolution. The profile must be non-increasing; then among
    samples right of ``p`` the first one is best, and samples left of ``p.x − u`` (``u`` the first
    one's distance) cannot be better, so only a window of samples is searched (exactly the same
    minimum as the full search, checked by the tests). Returns shape (P,).
    """
    K = profile.numel() - 1
    xs = torch.linspace(0.0, 1.0, K + 1, dtype=profile.dtype, device=profile.device)
    pts = torch.stack([xs, profile], 1)                                    # (K+1, 2)
    points = points.to(profile)
    out = torch.empty(points.shape[0], dtype=profile.dtype, device=profile.device)
    for a in range(0, points.shape[0], chunk):
        p = points[a:a + chunk]                                            # (c, 2)
        j1 = torch.ceil(p[:, 0] * K - 1e-9).long().clamp(0, K)             # first sample with x ≥ p.x
        u = torch.linalg.vector_norm((p - pts[j1]).clamp_min(0.0), dim=1)  # (c,) an upper bound
        W = int(torch.ceil(u.max() * K).item()) + 2
        idx = (j1[:, None] - torch.arange(W, device=p.device)[None, :]).clamp_min(0)   # (c, W)
        diff = (p[:, None, :] - pts[idx]).clamp_min(0.0)                  # (c, W, 2)
        out[a:a + chunk] = torch.linalg.vector_norm(diff, dim=2).amin(dim=1)
    return out


def profile_polygon(profile: torch.Tensor) -> np.ndarray:
    """The whole unconditional set as a closed polygon (for plotting); shape (4K+1, 2)."""
    K = profile.numel() - 1
    x = np.linspace(0.0, 1.0, K + 1)
    y = profile.detach().cpu().numpy()
    q1 = np.stack([x, y], 1)[::-1]                      # from (1, 0) to (0, 1)
    q2 = q1[::-1] * [-1, 1]
    q3 = q1 * [-1, -1]
    q4 = q1[::-1] * [1, -1]
    return np.concatenate([q1, q2, q3, q4, q1[:1]])


def starr_bound(I: np.ndarray | int, dim: int = 2, radius: float = 1.0) -> np.ndarray:
    """Shapley–Folkman–Starr: ``d_H(avg of I copies, conv) ≤ √min(d, I) · rad(A) / I``."""
    I = np.asarray(I, dtype=float)
    return np.sqrt(np.minimum(dim, I)) * radius / I


def l_half_distance(I: np.ndarray | int) -> np.ndarray:
    """The closed form for the ℓ½ ball: ``d_H(average of I copies, ℓ1 ball) = √2 / (4I)``."""
    return np.sqrt(2) / 4 / np.asarray(I)


@dataclass(frozen=True)
class MinkowskiStudy:
    """P1 Fig 3 computed: the ℓp ball's profile ``g`` (N+1,) on ``x`` = k/N, the averages' ``profiles``
    (entry I − 1: (I·N + 1,)), the hull's vertices, and per I = 1…I_max (``Is``): ``distance`` d_H to the hull,
    its ``resolution``, the ℓ½ ``closed`` form and the ``starr`` bound; ``dp_seconds`` (profile and DP) and
    ``seconds`` (with the hull and distances)."""

    x: np.ndarray
    g: torch.Tensor
    profiles: list[torch.Tensor]
    hull_x: np.ndarray
    hull_y: np.ndarray
    Is: np.ndarray
    distance: np.ndarray
    resolution: np.ndarray
    closed: np.ndarray
    starr: np.ndarray
    dp_seconds: float
    seconds: float


def minkowski_study(p: float, N: int, I_max: int, *, n_face: int = 2001, device: Device = "cpu") -> MinkowskiStudy:
    """:func:`lp_profile`, :func:`minkowski_profiles` for I ≤ I_max, the hull (:func:`upper_concave_envelope`)
    and :func:`hausdorff_to_hull` for every I, beside :func:`l_half_distance` and :func:`starr_bound` (d = 2,
    radius 1)."""
    t0 = time.perf_counter()
    g = lp_profile(p, N, device=device)
    profiles = minkowski_profiles(g, I_max)
    t_dp = time.perf_counter() - t0
    x = np.linspace(0.0, 1.0, N + 1)
    hull_x, hull_y = upper_concave_envelope(x, g.cpu().numpy())
    Is = np.arange(1, I_max + 1)
    results = [hausdorff_to_hull(profiles[I - 1], hull_x, hull_y, n_face=n_face) for I in Is]
    return MinkowskiStudy(x=x, g=g, profiles=profiles, hull_x=hull_x, hull_y=hull_y, Is=Is,
                          distance=np.array([r.distance for r in results]),
                          resolution=np.array([r.resolution for r in results]), closed=l_half_distance(Is),
                          starr=starr_bound(Is, dim=2, radius=1.0), dp_seconds=t_dp, seconds=time.perf_counter() - t0)


def sampled_outside(p: float, profiles: Sequence[torch.Tensor], n_check: int, seed: int, *,
                    Is: Sequence[int] = (2, 10), n_small: int = 150) -> float:
    """Brute-force cross-check of the DP: the largest distance outside the computed average (``profiles[I − 1]``,
    on its device) of (a) ``n_check`` averages of I points drawn from ``10·n_check`` uniform points of the ℓp
    ball (seed ``seed``; the choice of points from ``derive(seed, "replicate", offset=1, k=0)``), for each I in
    ``Is`` up to len(profiles), and (b) every average of 2 of ``n_small`` points (seed offset 2). 0: all inside."""
    dev = profiles[0].device
    pts = sample_lp_ball(p, n_check * 10, seed)
    rng = np.random.default_rng(seedlib.derive(seed, "replicate", offset=1, k=0))
    worst = 0.0
    for I in Is:
        if I > len(profiles):
            continue
        idx = rng.integers(0, len(pts), size=(n_check, I))
        avg = np.abs(pts[idx].mean(axis=1))                      # unconditional set: fold into Q1
        worst = max(worst, float(distance_to_downset(torch.as_tensor(avg, device=dev), profiles[I - 1]).max()))
    small = sample_lp_ball(p, n_small, seedlib.derive(seed, "replicate", offset=2, k=0))
    all2 = np.abs(minkowski_average_points(small, 2))
    return max(worst, float(distance_to_downset(torch.as_tensor(all2, device=dev), profiles[1]).max()))


# ---- brute force on finite point sets (used by the tests and the chapter's cross-check) -----------------

def sample_lp_ball(p: float, n: int, seed: int) -> np.ndarray:
    """``n`` points drawn uniformly from the ℓp unit ball by rejection; shape (n, 2)."""
    rng = np.random.default_rng(seed)
    out = np.empty((0, 2))
    while len(out) < n:
        z = rng.uniform(-1, 1, size=(4 * n, 2))
        keep = (np.abs(z) ** p).sum(1) <= 1.0
        out = np.concatenate([out, z[keep]])
    return out[:n]


def minkowski_average_points(P: np.ndarray, I: int) -> np.ndarray:
    """All averages of I points of the finite set P (with repetition); shape (|P|^I, 2)."""
    S = P.copy()
    for _ in range(I - 1):
        S = (S[:, None, :] + P[None, :, :]).reshape(-1, P.shape[1])
    return S / I


def hausdorff_points(A: np.ndarray, B: np.ndarray) -> float:
    """Hausdorff distance between finite point sets A (m, d) and B (k, d)."""
    D = np.linalg.norm(A[:, None, :] - B[None, :, :], axis=2)
    return float(max(D.min(1).max(), D.min(0).max()))


# ---- figures -----------------------------------------------------------------------------------------------

def plot_figure3(axes: Sequence, study: MinkowskiStudy, *, many: int = 10) -> None:
    """P1's Figure 3 on four panels: the ℓp ball A, ½(A + A), the average of ``many`` copies (or of I_max,
    if fewer were computed) and conv A (the hull of the first-quadrant profile), each filled on [-1, 1]²."""
    from companion.core.plotting import COLORS

    k = min(many, len(study.profiles))
    hull = torch.as_tensor(np.interp(study.x, study.hull_x, study.hull_y))
    panels = [(study.profiles[0], "ℓ½ ball $A$"), (study.profiles[1], r"$\frac{1}{2}(A + A)$"),
              (study.profiles[k - 1], rf"$\frac{{1}}{{{k}}}(A + \dots + A)$"), (hull, r"$\mathrm{conv}\,A$ (ℓ1 ball)")]
    for ax, (prof, title) in zip(axes, panels):
        poly = profile_polygon(prof)
        ax.fill(poly[:, 0], poly[:, 1], color=COLORS["measured"], alpha=0.85, lw=0)
        ax.set(xlim=(-1.05, 1.05), ylim=(-1.05, 1.05), aspect="equal", title=title, xticks=[-1, 0, 1],
               yticks=[-1, 0, 1])


def plot_distances(ax, study: MinkowskiStudy) -> None:
    """The Hausdorff distance from the average of I copies to conv A against I (log–log): measured, the closed
    form √2/(4I) and Starr's bound."""
    from companion.core.plotting import COLORS

    ax.loglog(study.Is, study.distance, "o", ms=3.5, color=COLORS["measured"], label=r"measured $d_H$")
    ax.loglog(study.Is, study.closed, "-", color=COLORS["reference"], label=r"closed form $\sqrt{2}/(4I)$")
    ax.loglog(study.Is, study.starr, "--", color=COLORS["bound"], label=r"Starr bound $\sqrt{\min(2,I)}/I$")
    ax.set(xlabel="number of copies $I$", ylabel=r"$d_H(\frac{1}{I}\sum A,\ \mathrm{conv}\,A)$")
    ax.legend()


def average_figure(study: MinkowskiStudy, I: int):
    """The average of ``I`` copies (filled) with the hull's boundary (outlined), titled with its d_H to the hull;
    one frame of the page's slider. Returns the figure."""
    from companion.core.plotting import COLORS, subplots

    if not 1 <= I <= len(study.profiles):
        raise ValueError(f"I must be in 1..{len(study.profiles)}, not {I}")
    fig, ax = subplots(1, width=3.2, height=3.2)
    poly = profile_polygon(study.profiles[I - 1])
    hull = profile_polygon(torch.as_tensor(np.interp(study.x, study.hull_x, study.hull_y)))
    ax.fill(poly[:, 0], poly[:, 1], color=COLORS["measured"], alpha=0.85, lw=0)
    ax.plot(hull[:, 0], hull[:, 1], color=COLORS["reference"], lw=1)
    ax.set(xlim=(-1.05, 1.05), ylim=(-1.05, 1.05), aspect="equal", xticks=[-1, 0, 1], yticks=[-1, 0, 1],
           title=f"I = {I}: $d_H$ = {study.distance[I - 1]:.4f}")
    return fig
