"""Seed-batched SGD: S independent networks trained at once, one forward/backward per step for all.

Plain SGD with optional coupled weight decay (grad += wd·w, as ``torch.optim.SGD(weight_decay=…)``); the
rate and the decay may differ per network, so settings batch like seeds. Two rate/stopping rules:

- ``rule="check_full"`` (ours): every ``check_every`` steps the *full-data* loss of each network is computed,
  its rate is cut ×``lr_cut`` whenever that loss rose since the previous check (no limit on cuts), and the
  network stops once the loss is ≤ ``stop_loss``. Minibatches (``batches="hash"``): drawn per step, with
  replacement, from a counter-based hash of (network seed, step).
- ``rule="authors"``: the rule of the authors' ``fully_connected.py``, on each step's *minibatch* loss
  (:class:`companion.schedule.AuthorsRule`: stop at loss < 1e-5; every ``check_every`` steps cut ×0.1 if
  the loss rose since the last cut, at most 3 cuts, then stop). Minibatches (``batches="epochs"``): epochs
  of a per-network shuffled order, consecutive slices of ``batch_size`` (the last one shorter), as their
  loop does.

Either way a network sees the same batches whether it is trained alone or in a batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import numpy as np
import torch

from companion.losses import LossFn
from companion.nets import Layers, Scale, forward, init_branches
from companion.schedule import AuthorsRule

Rule = Literal["check_full", "authors"]
Batches = Literal["hash", "epochs"]


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


def epoch_order(seeds: torch.Tensor, epoch: int, n: int) -> torch.Tensor:
    """(S, n): each network's shuffled order of the n examples in ``epoch`` (a permutation per network)."""
    return torch.argsort(batch_indices(seeds, 1_000_003 + epoch, n, 2_147_483_648), dim=1)


def _per_net(value: float | Sequence[float] | torch.Tensor, S: int, dev, dt) -> torch.Tensor:
    """A setting given once or per network, as an (S,) tensor."""
    t = torch.as_tensor(value, dtype=dt, device=dev)
    if t.dim() == 0:
        return t.expand(S).clone()
    if t.shape != (S,):
        raise ValueError(f"a per-network setting needs one value per network ({S}), got shape {tuple(t.shape)}")
    return t.clone()


def _sgd_update(Ws: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], rate: torch.Tensor, wd: torch.Tensor,
                mask: torch.Tensor | None, trainable: Sequence[torch.Tensor] | None) -> None:
    """W −= rate·(g + wd·W), per network (rate, wd: (S,)), with gradients masked (padding: ``mask`` (S, I, 1, 1);
    frozen entries: per-layer ``trainable``). In place on the gradient: no weight-sized temporaries."""
    Sb = rate.shape[0]
    r, decay = rate.view(Sb, 1, 1, 1), wd.view(Sb, 1, 1, 1)
    use_wd = bool((wd != 0).any())
    for l, (W, g) in enumerate(zip(Ws, grads)):
        if use_wd:
            g.addcmul_(W, decay)
        g.mul_(r)
        if mask is not None:
            g.mul_(mask)
        if trainable is not None:
            g.mul_(trainable[l])
        W -= g


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
              lr: float | Sequence[float] | torch.Tensor, seeds: Sequence[int],
              weight_decay: float | Sequence[float] | torch.Tensor = 0.0, batch_size: int | None = None,
              check_every: int = 100, stop_loss: float = 1e-5, lr_cut: float = 0.1, mask: torch.Tensor | None = None,
              trainable: Sequence[torch.Tensor] | None = None, rule: Rule = "check_full",
              batches: Batches | None = None, scale: Scale = "sum", compact: float = 0.9,
              branch_chunk: int | None = None, progress: Callable | None = None) -> TrainResult:
    """Train the S networks in ``layers`` (each (S, I, ·, ·)) on (x: (n, d), y) with seed-batched SGD.

    ``seeds``: one per network (drives its minibatches). ``lr``, ``weight_decay``: one value or one per
    network. ``rule``, ``batches``: see the module docstring (default batches: ``"hash"`` for
    ``"check_full"``, ``"epochs"`` for ``"authors"``; ``lr_cut`` applies to ``"check_full"`` only).
    ``steps``: the most steps any network takes. ``mask`` (S, I, 1, 1): padded branches stay fixed;
    ``trainable``: per-layer 0/1 masks of the entries that train (frozen ones get neither gradient nor
    decay). Networks that stopped are dropped from the batch once fewer than ``compact`` of the current batch
    are still training (their results are kept), so finished networks cost nothing. ``branch_chunk`` bounds
    the forward's memory for huge I. ``progress``: optional wrapper for the loop over checks.
    """
    if rule not in ("check_full", "authors"):
        raise ValueError(f"unknown rule {rule!r}: choose 'check_full' or 'authors'")
    batches = batches or ("epochs" if rule == "authors" else "hash")
    if batches not in ("hash", "epochs"):
        raise ValueError(f"unknown batches {batches!r}: choose 'hash' or 'epochs'")
    if steps < 0 or check_every < 1:
        raise ValueError(f"need steps ≥ 0 and check_every ≥ 1, got {steps}, {check_every}")
    out_W = [W.detach().clone() for W in layers]
    S = out_W[0].shape[0]
    dev, dt = out_W[0].device, out_W[0].dtype
    x, y = x.to(device=dev, dtype=dt), y.to(dev)
    n = x.shape[0]
    B = n if batch_size is None or batch_size >= n else int(batch_size)
    per_epoch = -(-n // B)
    ids = torch.arange(S, device=dev)                      # which original network each batch row is
    Ws = [W.clone().requires_grad_() for W in out_W]
    sd = torch.as_tensor(list(seeds), dtype=torch.int64, device=dev)
    wd = _per_net(weight_decay, S, dev, dt)
    mk = mask
    authors = AuthorsRule.start(_per_net(lr, S, dev, dt), S, stop_loss=stop_loss, check_every=check_every,
                                device=dev, dtype=dt) if rule == "authors" else None
    lr_t = _per_net(lr, S, dev, dt)
    lr_out = lr_t.clone()
    active = torch.ones(S, dtype=torch.bool, device=dev)
    taken = torch.full((S,), steps, dtype=torch.int64, device=dev)
    prev = torch.full((S,), torch.inf, dtype=dt, device=dev)
    hist = torch.full((steps // check_every + 1, S), torch.nan, dtype=dt, device=dev)
    order, order_epoch = None, -1
    t0 = time.perf_counter()

    def batch_loss(step: int) -> torch.Tensor:
        nonlocal order, order_epoch
        if B == n:
            return loss_fn(forward(Ws, x, scale=scale, branch_chunk=branch_chunk), y)
        if batches == "hash":
            idx = batch_indices(sd, step, B, n)                               # (S, B)
        else:
            e, p = divmod(step, per_epoch)
            if order is None or order_epoch != e or order.shape[0] != len(sd):
                order, order_epoch = epoch_order(sd, e, n), e
            idx = order[:, p * B:(p + 1) * B]
        return loss_fn(forward(Ws, x[idx], scale=scale, branch_chunk=branch_chunk), y[idx])

    checks = range(0, steps + 1, check_every)
    for k, c0 in enumerate(progress(checks, total=len(checks)) if progress else checks):
        with torch.no_grad():
            full = loss_fn(forward(Ws, x, scale=scale, branch_chunk=branch_chunk), y)
            hist[k, ids] = full
            if authors is None:
                lr_t = torch.where(active & (full > prev), lr_t * lr_cut, lr_t)
                prev = full
                done = active & (full <= stop_loss)
                taken[ids[done]] = c0
                active = active & ~done
            if int(active.sum()) < compact * len(ids):          # drop finished networks from the batch
                for W, Wo in zip(Ws, out_W):
                    Wo[ids] = W.detach()
                lr_out[ids] = lr_t if authors is None else authors.lr
                keep = active.nonzero()[:, 0]
                ids, sd, lr_t, prev, active, wd = ids[keep], sd[keep], lr_t[keep], prev[keep], active[keep], wd[keep]
                authors = authors.select(keep) if authors is not None else None
                Ws = [W.detach()[keep].clone().requires_grad_() for W in Ws]
                mk = mask[ids] if mask is not None else None
        if c0 == steps or len(ids) == 0:
            break
        for step in range(c0, min(c0 + check_every, steps)):
            loss = batch_loss(step)
            grads = torch.autograd.grad(loss.sum(), Ws)
            with torch.no_grad():
                rate = (lr_t if authors is None else authors.lr) * active
                _sgd_update(Ws, grads, rate, wd, mk, trainable)
                if authors is not None:                      # their rule, after the step, on its minibatch loss
                    stopped = authors.update(loss.detach(), step + 1)
                    newly = active & stopped
                    taken[ids[newly]] = step + 1
                    active = active & ~stopped
            if authors is not None and not bool(active.any()):
                break
    with torch.no_grad():
        for W, Wo in zip(Ws, out_W):
            Wo[ids] = W.detach()
        lr_out[ids] = lr_t if authors is None else authors.lr
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
