"""Multi-branch networks as batched tensors: f(x) = Σ_i f_i(x) (or the mean, P1's 1/I form).

Every branch is a small ReLU MLP without biases. All branches of all S independent networks (seeds)
live in one tensor per layer: ``layers[l]`` has shape (S, I, d_{l+1}, d_l). There is no Python loop over
branches or seeds; a 50 000-branch network is one batched computation (chunked over branches when
memory demands, see :func:`forward`). One-hidden-layer networks with I hidden units are branches with
one hidden unit each: widths (d, 1, out).
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import numpy as np
import torch

from companion.core import seeds as seedlib
from companion.core.devices import Device, resolve_device

Scale = Literal["sum", "mean"]
Layers = list[torch.Tensor]


def seed_list(seed: int | Sequence[int], S: int) -> list[int]:
    """One seed per network: ``derive(seed, "replicate", offset=0, k=s)`` (= seed + s) for one int, else the
    given S seeds."""
    seeds = list(seed) if isinstance(seed, (list, tuple)) else seedlib.derive_many(seed, "replicate", "k", S, offset=0)
    if len(seeds) != S:
        raise ValueError(f"{len(seeds)} seeds for S = {S} networks")
    return seeds


def _stack_seeds(seed: int | Sequence[int], S: int, shapes: Sequence[tuple[int, int, int]], fill, device: Device,
                 dtype: torch.dtype) -> Layers:
    """Every network's layers from its own generator, written into (S, I, ·, ·) tensors of ``dtype`` on
    ``device`` as they are drawn: ``fill(g, l, out)`` writes layer l (``shapes[l]`` = (I, o, i)) into ``out``
    from float64 draws. No float64 copy of a whole network and no stacking copy."""
    dev = resolve_device(device)
    out = [torch.empty(S, *shape, dtype=dtype, device=dev) for shape in shapes]
    for s, sd in enumerate(seed_list(seed, S)):
        g = torch.Generator().manual_seed(int(sd))
        for l in range(len(shapes)):
            fill(g, l, out[l][s])
    return out


def _fill_normal(g: torch.Generator, out: torch.Tensor, std: float, chunk_elements: int = 2**24) -> None:
    """out (I, o, i) ← N(0, std²) drawn in float64 from ``g``: the same numbers as one ``torch.randn(I, o, i)``,
    drawn a chunk of branches at a time (torch's CPU sampler fills blocks of 16 in order, so chunks whose sizes
    are multiples of 16 continue the same stream; tested) to bound the float64 temporary."""
    I, o, i = out.shape
    per = o * i
    unit = 16 // math.gcd(16, per)                                        # branches per chunk: a multiple of this
    c = max(unit, chunk_elements // per // unit * unit)
    if (I * per) % 16 or c >= I:
        c = I                                                              # not chunkable: in one piece
    for a in range(0, I, c):
        out[a:a + c] = torch.randn(min(c, I - a), o, i, generator=g, dtype=torch.float64) / std


def init_branches(S: int, I: int, widths: Sequence[int], *, seed: int | Sequence[int] = 0, device: Device = "cpu",
                  dtype: torch.dtype = torch.float32, parametrization: Scale = "sum") -> Layers:
    """S networks of I branches with layer widths ``widths`` = (d, h_1, …, out).

    Layer l ~ N(0, 1/fan_in), fan_in = d_l. For the last layer, ``parametrization="sum"`` uses
    fan_in = I·h so that f = Σ_i f_i has O(1) scale; ``"mean"`` (P1's f = (1/I)Σ_i f_i) uses fan_in = h,
    i.e. O(1) output weights per branch.
    ``seed`` may be one int (network s uses seed + s) or one seed per network, so that network s is the
    same whether it is trained alone or in a batch. Memory: the result, plus a float64 chunk of branches.
    """
    L = len(widths) - 1

    def fill(g: torch.Generator, l: int, out: torch.Tensor) -> None:
        fan_in = widths[l] * (I if l == L - 1 and parametrization == "sum" else 1)
        _fill_normal(g, out, np.sqrt(fan_in))

    return _stack_seeds(seed, S, [(I, widths[l + 1], widths[l]) for l in range(L)], fill, device, dtype)


def forward(layers: Sequence[torch.Tensor], x: torch.Tensor, *, scale: Scale = "sum",
            branch_chunk: int | None = None, example_chunk: int | None = None) -> torch.Tensor:
    """Outputs (S, n, out) for inputs x: (n, d) shared by all networks, or (S, n, d) one batch per network.

    ``branch_chunk``: process that many branches at a time and accumulate; ``example_chunk``: that many
    examples at a time (both bound the activations' memory for huge I: (S, branch_chunk, h, example_chunk)).
    """
    S, I = layers[0].shape[:2]
    n = x.shape[-2]
    if example_chunk is not None and example_chunk < n:
        return torch.cat([forward(layers, x[..., e:e + example_chunk, :], scale=scale, branch_chunk=branch_chunk)
                          for e in range(0, n, example_chunk)], 1)
    if branch_chunk is not None and branch_chunk < I:
        out = sum(forward([W[:, a:a + branch_chunk] for W in layers], x, scale="sum")
                  for a in range(0, I, branch_chunk))
        return out / I if scale == "mean" else out
    W0 = layers[0]
    o, d = W0.shape[2], W0.shape[3]
    if x.dim() == 2:
        h = (W0.reshape(-1, d) @ x.T).reshape(S, I, o, -1)                    # (S, I, o, n)
    else:
        h = torch.bmm(W0.reshape(S, I * o, d), x.transpose(1, 2)).reshape(S, I, o, -1)
    for W in layers[1:-1]:
        h = torch.matmul(W, torch.relu(h))                                    # (S, I, o', n)
    if len(layers) == 1:
        out = h.sum(1)
    else:  # the last layer and the sum over branches are one contraction: (out, I·h) @ (I·h, n) per network
        Wl = layers[-1]
        a = torch.relu(h).reshape(S, I * Wl.shape[3], -1)                     # (S, I·h, n)
        out = torch.bmm(Wl.permute(0, 2, 1, 3).reshape(S, Wl.shape[2], -1), a)  # (S, out, n)
    out = out.transpose(1, 2)                                                 # (S, n, out)
    return out / I if scale == "mean" else out


def example_chunk_for(S: int, I: int, widths: Sequence[int], branch_chunk: int | None,
                      max_elements: int = 2**26) -> int:
    """Examples per block so that one activation (S, branch chunk, widest hidden layer, block) holds at most
    ``max_elements`` numbers (2²⁶: 256 MB in float32)."""
    return max(1, max_elements // (S * min(I, branch_chunk or I) * max(widths[1:-1], default=1)))


def n_parameters(I: int, widths: Sequence[int]) -> int:
    """Parameters of one network of I branches."""
    return I * sum(widths[l] * widths[l + 1] for l in range(len(widths) - 1))


def flatten(layers: Sequence[torch.Tensor]) -> torch.Tensor:
    """(S, P): each network's parameters as one vector."""
    return torch.cat([W.reshape(W.shape[0], -1) for W in layers], 1)


def init_default(S: int, I: int, widths: Sequence[int], *, seed: int | Sequence[int] = 0, bias: bool = True,
                 device: Device = "cpu", dtype: torch.dtype = torch.float32) -> Layers:
    """S networks of I branches initialised as PyTorch's ``nn.Linear`` does by default (the authors' code):
    weights and biases of a layer with fan-in k ~ U(−1/√k, 1/√k).

    Biases without changing :func:`forward` or the plane evaluators: inputs get a constant-1 column
    (:func:`with_ones`) and every hidden layer of every branch one extra *constant unit* whose incoming row
    is frozen at (0, …, 0, 1), so its activation is relu(1) = 1. A layer's biases are then its weights
    on the previous constant (the input's 1, or the previous layer's constant unit); the last layer's bias is
    the output weight of the last constant unit. Shapes: layer l is (S, I, h_{l+1} + 1, h_l + 1), the last
    (S, I, out, h_L + 1) (without ``bias``: as :func:`init_branches`). Frozen entries: :func:`trainable_masks`.
    ``seed``: one int (network s uses seed + s) or one per network.
    """
    L = len(widths) - 1

    def fill(g: torch.Generator, l: int, out: torch.Tensor) -> None:
        k, o = widths[l], widths[l + 1]
        u = lambda *shape: (2 * torch.rand(*shape, generator=g, dtype=torch.float64) - 1) / np.sqrt(k)
        if not bias:
            out.copy_(u(I, o, k))
            return
        out[:, :o] = torch.cat([u(I, o, k), u(I, o, 1)], 2)        # [weight | bias]
        if l < L - 1:                                              # the constant unit's frozen row
            out[:, o] = 0.0
            out[:, o, -1] = 1.0

    e = int(bias)
    shapes = [(I, widths[l + 1] + (e if l < L - 1 else 0), widths[l] + e) for l in range(L)]
    return _stack_seeds(seed, S, shapes, fill, device, dtype)


def trainable_masks(layers: Sequence[torch.Tensor], *, bias: bool = True) -> Layers:
    """Per-layer 0/1 masks (1, 1, rows, cols) of the trainable entries of :func:`init_default` networks:
    0 on the constant units' frozen rows (every layer but the last), 1 elsewhere."""
    out = []
    for l, W in enumerate(layers):
        m = torch.ones(1, 1, *W.shape[2:], dtype=W.dtype, device=W.device)
        if bias and l < len(layers) - 1:
            m[..., -1, :] = 0.0
        out.append(m)
    return out


def with_ones(x: torch.Tensor) -> torch.Tensor:
    """(n, d) → (n, d + 1): inputs with the constant-1 column that carries the first layer's biases."""
    return torch.cat([x, torch.ones(*x.shape[:-1], 1, dtype=x.dtype, device=x.device)], -1)
