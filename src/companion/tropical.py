"""Max-plus and min-plus convolutions (the dynamic programmes behind Minkowski sums and separable problems)."""

from __future__ import annotations

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
