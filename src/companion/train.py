"""Seed-batched SGD: S independent networks trained at once, one forward/backward per step for all.

Settings (documented in the chapters): plain SGD with optional weight decay; every ``check_every``
steps the full-data loss of each network is computed, its learning rate is cut ×``lr_cut`` when that
loss rose since the last check (the authors' rule), and the network stops once the loss is below
``stop_loss``. Minibatches are drawn per network from a counter-based hash of (network seed, step), so
a network sees the same batches whether it is trained alone or in a batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from companion.nets import Layers, Scale, forward, init_branches

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]   # (S, n, out), targets -> (S,)


@dataclass
class TrainResult:
    layers: Layers
    loss: torch.Tensor        # (S,) final full-data loss
    steps: torch.Tensor       # (S,) steps taken (stopped early or ``steps``)
    lr: torch.Tensor          # (S,) final learning rates
    history: torch.Tensor     # (checks, S) full-data loss at each check
    seconds: float


def batch_indices(seeds: torch.Tensor, step: int, B: int, n: int) -> torch.Tensor:
    """(S, B) example indices for ``step``: a deterministic hash of (seed, step, slot), independent per network."""
    j = torch.arange(B, device=seeds.device, dtype=torch.int64)
    x = (seeds[:, None] * 1_000_003 + step * 7_919 + j[None, :] * 104_729 + 12_345) % 2_147_483_648
    for _ in range(3):  # LCG rounds with a xor-shift: well mixed, no int64 overflow (x < 2^31, a < 2^31)
        x = (x * 1_103_515_245 + 12_345) % 2_147_483_648
        x = x ^ (x >> 13)
    return x % n


def init_padded(widths_per_net: Sequence[int], layer_widths: Sequence[int], seeds: Sequence[int], *,
                device: str = "auto", dtype: torch.dtype = torch.float32) -> tuple[Layers, torch.Tensor]:
    """Networks of different branch counts I_s in one batch, zero-padded to max I_s.

    Returns (layers, mask) with mask (S, I_max, 1, 1) = 1 on real branches. Padded branches are zero and
    stay zero (their updates are masked), so each network computes exactly what its narrower self would.
    """
    I_max = max(widths_per_net)
    per = [init_branches(1, I, layer_widths, seed=[sd], device=device, dtype=dtype)
           for I, sd in zip(widths_per_net, seeds)]
    layers = []
    for l in range(len(layer_widths) - 1):
        padded = []
        for p, I in zip(per, widths_per_net):
            W = p[l]
            pad = torch.zeros(1, I_max - I, *W.shape[2:], dtype=W.dtype, device=W.device)
            padded.append(torch.cat([W, pad], 1))
        layers.append(torch.cat(padded, 0))
    mask = torch.zeros(len(widths_per_net), I_max, 1, 1, dtype=dtype, device=layers[0].device)
    for s, I in enumerate(widths_per_net):
        mask[s, :I] = 1.0
    return layers, mask


def train_sgd(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *, steps: int,
              lr: float, seeds: Sequence[int], weight_decay: float = 0.0, batch_size: int | None = None,
              check_every: int = 100, stop_loss: float = 1e-5, lr_cut: float = 0.1, mask: torch.Tensor | None = None,
              scale: Scale = "sum", compact: float = 0.9, branch_chunk: int | None = None,
              progress: Callable | None = None) -> TrainResult:
    """Train the S networks in ``layers`` (each (S, I, ·, ·)) on (x: (n, d), y) with seed-batched SGD.

    ``seeds``: one per network (drives its minibatches). Networks that stopped are dropped from the batch
    once fewer than ``compact`` of the current batch are still training (their results are kept), so
    finished networks cost nothing. ``branch_chunk`` bounds the forward's memory for huge I.
    ``progress``: optional wrapper for the check loop.
    """
    out_W = [W.detach().clone() for W in layers]
    S = out_W[0].shape[0]
    dev, dt = out_W[0].device, out_W[0].dtype
    x, y = x.to(device=dev, dtype=dt), y.to(dev)
    n = x.shape[0]
    ids = torch.arange(S, device=dev)                      # which original network each batch row is
    Ws = [W.clone().requires_grad_() for W in out_W]
    sd = torch.as_tensor(list(seeds), dtype=torch.int64, device=dev)
    mk = mask
    lr_t = torch.full((S,), float(lr), dtype=dt, device=dev)
    lr_out = lr_t.clone()
    active = torch.ones(S, dtype=torch.bool, device=dev)
    taken = torch.full((S,), steps, dtype=torch.int64, device=dev)
    prev = torch.full((S,), torch.inf, dtype=dt, device=dev)
    hist = torch.full((steps // check_every + 1, S), torch.nan, dtype=dt, device=dev)
    t0 = time.perf_counter()
    checks = range(0, steps + 1, check_every)
    for k, c0 in enumerate(progress(checks, total=len(checks)) if progress else checks):
        with torch.no_grad():
            full = loss_fn(forward(Ws, x, scale=scale, branch_chunk=branch_chunk), y)
            hist[k, ids] = full
            lr_t = torch.where(active & (full > prev), lr_t * lr_cut, lr_t)
            prev = full
            done = active & (full <= stop_loss)
            taken[ids[done]] = c0
            active = active & ~done
            if int(active.sum()) < compact * len(ids):          # drop finished networks from the batch
                for W, Wo in zip(Ws, out_W):
                    Wo[ids] = W.detach()
                lr_out[ids] = lr_t
                keep = active.nonzero()[:, 0]
                ids, sd, lr_t, prev, active = ids[keep], sd[keep], lr_t[keep], prev[keep], active[keep]
                Ws = [W.detach()[keep].clone().requires_grad_() for W in Ws]
                mk = mask[ids] if mask is not None else None
        if c0 == steps or len(ids) == 0:
            break
        Sb = len(ids)
        for step in range(c0, min(c0 + check_every, steps)):
            if batch_size is None or batch_size >= n:
                loss = loss_fn(forward(Ws, x, scale=scale, branch_chunk=branch_chunk), y)
            else:
                idx = batch_indices(sd, step, batch_size, n)                # (S, B)
                loss = loss_fn(forward(Ws, x[idx], scale=scale, branch_chunk=branch_chunk), y[idx])
            grads = torch.autograd.grad(loss.sum(), Ws)
            with torch.no_grad():
                rate = (lr_t * active).view(Sb, 1, 1, 1)
                for W, g in zip(Ws, grads):     # in place on the gradient: no weight-sized temporaries
                    if weight_decay:
                        g.add_(W, alpha=weight_decay)
                    g.mul_(rate)
                    if mk is not None:
                        g.mul_(mk)
                    W -= g
    with torch.no_grad():
        for W, Wo in zip(Ws, out_W):
            Wo[ids] = W.detach()
        lr_out[ids] = lr_t
        final = loss_fn(forward(out_W, x, scale=scale, branch_chunk=branch_chunk), y)
    return TrainResult(layers=out_W, loss=final, steps=taken, lr=lr_out, history=hist[: k + 1],
                       seconds=time.perf_counter() - t0)


def train_sequential(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *,
                     seeds: Sequence[int], **kw) -> list[TrainResult]:
    """The baseline: the same networks trained one at a time (a Python loop over seeds)."""
    return [train_sgd([W[s:s + 1] for W in layers], x, y, loss_fn, seeds=[seeds[s]], **kw)
            for s in range(layers[0].shape[0])]


def hits(result: TrainResult, threshold: float = 1e-5) -> np.ndarray:
    """(S,) bool: final training loss ≤ threshold (the global minimum 0 reached)."""
    return (result.loss <= threshold).cpu().numpy()
