"""Max-plus and min-plus convolutions and convex envelopes (behind Minkowski sums and separable problems)."""

from __future__ import annotations

import numpy as np
import torch


def max_plus_convolve(G: torch.Tensor, g: torch.Tensor, *, max_elements: int = 2**24) -> torch.Tensor:
    """``(G ⊕ g)[j] = max_i G[j − i] + g[i]``; shapes (M,), (N+1,) → (M+N,).

    Output indices are processed in chunks so that at most ``max_elements`` sums exist at once.
    """
    N = g.numel() - 1
    neg = torch.full((N,), -torch.inf, dtype=G.dtype, device=G.device)
    padded = torch.cat([neg, G, neg])                      # (M + 2N,)
    windows = padded.unfold(0, N + 1, 1)                   # (M + N, N+1) view: windows[j, m] = padded[j + m]
    gf = g.flip(0)                                         # m = N − i  ⇒  padded[j + N − i] = G[j − i]
    rows = max(1, max_elements // (N + 1))
    return torch.cat([(windows[a:a + rows] + gf).amax(dim=1) for a in range(0, windows.shape[0], rows)])


def min_plus_convolve(G: torch.Tensor, g: torch.Tensor, *, max_elements: int = 2**24) -> torch.Tensor:
    """``(G □ g)[j] = min_i G[j − i] + g[i]``; shapes (M,), (N+1,) → (M+N,)."""
    return -max_plus_convolve(-G, -g, max_elements=max_elements)


def lower_hull(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of the lower convex hull of points (x, y) (Andrew's monotone chain), sorted by x."""
    order = np.lexsort((y, x))
    hull: list[tuple[float, float]] = []
    for px, py in zip(x[order], y[order]):
        if hull and hull[-1][0] == px:
            continue  # same x: keep the lower point (sorted by y within x)
        while len(hull) >= 2:
            (ax, ay), (bx, by) = hull[-2], hull[-1]
            if (bx - ax) * (py - ay) - (by - ay) * (px - ax) <= 0:  # b is not below the chord a→p
                hull.pop()
            else:
                break
        hull.append((float(px), float(py)))
    h = np.array(hull)
    return h[:, 0], h[:, 1]


def upper_hull(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of the least concave majorant of points (x, y), sorted by x."""
    hx, hy = lower_hull(x, -np.asarray(y))
    return hx, -hy
