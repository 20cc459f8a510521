"""A fast SGD trainer for many one-hidden-layer ReLU networks at once (P1 Table 1's protocol).

Network s has I_s hidden units and no biases: f_s(x) = c_s Σ_i a_i relu(w_iᵀx), with c_s = 1 (``"sum"``)
or 1/I_s (``"mean"``, P1's multi-branch form with one unit per branch). Loss: the τ-hinge
mean_b max(0, 1 − y_b f_s(x_b)/τ) on a minibatch.

Layout: the hidden units of *all* networks are stacked, network after network, into one block W: (U, d),
a: (U,), U = Σ_s I_s, with ``owner``: (U,) the network of each unit. No padding to the widest network,
one GEMM for the first-layer products of every network, one for their gradients, and hand-written
backward passes (no autograd graph, no ``einsum``). Every network sees the same minibatches (the
authors' epochs of a shuffled data set, one shuffle per epoch, shared): the randomness that differs
between networks is their initialisation, as in P1 §5.2. The learning rate follows the authors' rule
(:class:`companion.training.schedule.AuthorsRule`, on each step's minibatch loss); a network that the rule stops is
compacted out of the block at once and its full-data loss recorded.
"""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Literal, Sequence

import numpy as np
import torch

from companion.core.devices import Device
from companion.training.losses import tau_hinge
from companion.training.nets import forward, init_branches
from companion.training.schedule import AuthorsRule

Output = Literal["sum", "mean"]


@dataclass
class Nets:
    """S one-hidden-layer networks stacked by unit. W: (U, d), a: (U,), widths: (S,) int64 (Σ = U)."""

    W: torch.Tensor
    a: torch.Tensor
    widths: torch.Tensor

    @property
    def owner(self) -> torch.Tensor:
        """(U,) int64: the network each unit belongs to."""
        return torch.repeat_interleave(torch.arange(len(self.widths), device=self.W.device), self.widths)

    def select(self, index: torch.Tensor) -> "Nets":
        """Networks ``index`` only: (S',) int64 in increasing order, or (S,) bool."""
        keep = torch.zeros(len(self.widths), dtype=torch.bool, device=self.W.device)
        keep[index] = True
        if index.dtype != torch.bool and len(index) > 1 and bool((index[1:] <= index[:-1]).any()):
            raise ValueError("select: indices must be increasing")
        unit = keep[self.owner]
        return Nets(self.W[unit], self.a[unit], self.widths[keep])

    def network(self, s: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(w: (I_s, d), a: (I_s,)) of network s (views)."""
        start = int(self.widths[:s].sum())
        return self.W[start:start + int(self.widths[s])], self.a[start:start + int(self.widths[s])]


def init_nets(widths: Sequence[int], d: int, seeds: Sequence[int], *, output: Output = "sum", init_scale: float = 1.0,
              device: Device = "cpu", dtype: torch.dtype = torch.float32) -> Nets:
    """S networks, network s of width ``widths[s]`` initialised from ``seeds[s]`` exactly as
    :func:`companion.training.nets.init_branches` does (w ~ N(0, I_d/d); a ~ N(0, 1/I) for ``"sum"``, N(0, 1) for
    ``"mean"``), all weights then multiplied by ``init_scale``."""
    if len(widths) != len(seeds) or not widths or min(widths) < 1:
        raise ValueError(f"need one seed per network and widths ≥ 1; got {len(widths)} widths, {len(seeds)} seeds")
    if output not in ("sum", "mean"):
        raise ValueError(f"unknown output {output!r}: choose 'sum' or 'mean'")
    Ws, As = [], []
    for I, sd in zip(widths, seeds):
        w, a = init_branches(1, int(I), (d, 1, 1), seed=[int(sd)], device="cpu", dtype=torch.float64, parametrization=output)
        Ws.append(w.reshape(I, d))
        As.append(a.reshape(I))
    return Nets(W=(torch.cat(Ws) * init_scale).to(device=device, dtype=dtype),
                a=(torch.cat(As) * init_scale).to(device=device, dtype=dtype),
                widths=torch.as_tensor(list(widths), dtype=torch.int64, device=device))


def epoch_batches(n: int, batch_size: int, seed: int, device: Device = "cpu") -> Iterator[torch.Tensor]:
    """The authors' minibatches, forever: each epoch a fresh shuffle of range(n) (from ``seed``), cut into
    consecutive batches of ``batch_size`` (the last one smaller when batch_size does not divide n)."""
    if not 1 <= batch_size:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    g = torch.Generator().manual_seed(int(seed))
    while True:
        perm = torch.randperm(n, generator=g).to(device)
        for st in range(0, n, batch_size):
            yield perm[st:st + batch_size]


def scale_per_unit(nets: Nets, output: Output) -> torch.Tensor:
    """(U,) the output factor c_s of each unit's network: 1 (``"sum"``) or 1/I_s (``"mean"``)."""
    if output == "sum":
        return torch.ones_like(nets.a)
    return (1.0 / nets.widths.to(nets.a.dtype))[nets.owner]


def outputs(nets: Nets, x: torch.Tensor, output: Output = "sum") -> torch.Tensor:
    """(S, n) outputs f_s(x_b) for x: (n, d)."""
    Z = torch.relu(nets.W @ x.T)                                                    # (U, n)
    return unit_sum_matrix(nets.widths, nets.a * scale_per_unit(nets, output)) @ Z


def full_loss(nets: Nets, x: torch.Tensor, y: torch.Tensor, *, output: Output = "sum", tau: float = 1.0,
              chunk: int = 256) -> torch.Tensor:
    """(S,) full-data τ-hinge loss of every network (networks in chunks to bound memory)."""
    parts = [tau_hinge(outputs(nets.select(torch.arange(s, min(s + chunk, len(nets.widths)), device=x.device)), x,
                               output), y, tau) for s in range(0, len(nets.widths), chunk)]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=x.dtype, device=x.device)


def unit_sum_matrix(widths: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """(S, U) sparse CSR matrix with ``values`` (U,) in row s at the columns of network s's units: A @ Z sums
    each network's rows of Z (U, B) weighted by ``values``, in one pass, with no padding."""
    crow = torch.cat([torch.zeros(1, dtype=torch.int64, device=widths.device), widths.cumsum(0)])
    col = torch.arange(len(values), dtype=torch.int64, device=values.device)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, size=(len(widths), len(values)), check_invariants=False)


def sgd_step(nets: Nets, owner: torch.Tensor, coef: torch.Tensor, lr_unit: torch.Tensor, xb: torch.Tensor,
             yb: torch.Tensor, tau: float) -> torch.Tensor:
    """One SGD step of every network on the minibatch (xb: (B, d), yb: (B,)), in place; returns the (S,)
    minibatch losses *before* the step (as the authors' ``pyloss``).

    owner: (U,) network of each unit; coef: (U,) output factor c_s; lr_unit: (U,) the rate of each unit's
    network. Forward Z = relu(W xbᵀ) (U, B), f_s = c_s Σ_{u∈s} a_u Z_u (a sparse (S, U) @ (U, B) product);
    backward with g = ∂loss/∂f (S, B) and M_ub = g_{s(u)b} [Z_ub > 0] (ReLU's own backward kernel):
    ∂/∂w_u = c a_u Σ_b M_ub x_b (one GEMM, M xb) and, since relu is positively homogeneous,
    ∂/∂a_u = c Σ_b g relu(w_uᵀx_b) = c w_uᵀ(Σ_b M_ub x_b): the same GEMM's rows, no pass over (U, B).
    """
    B = xb.shape[0]
    Z = (nets.W @ xb.T).clamp_(min=0.0)                                             # (U, B), GEMM
    ac = nets.a * coef
    f = unit_sum_matrix(nets.widths, ac) @ Z                                         # (S, B)
    margin = 1.0 - yb * f / tau
    loss = margin.clamp(min=0.0).mean(1)
    g = (margin > 0) * (yb * (-1.0 / (tau * B)))                                     # ∂loss/∂f (S, B)
    M = torch.ops.aten.threshold_backward(g.index_select(0, owner), Z, 0.0)          # (U, B)
    MX = M @ xb                                                                      # (U, d), GEMM
    grad_a = torch.linalg.vecdot(MX, nets.W) * coef
    nets.W.sub_(MX * (ac * lr_unit)[:, None])
    nets.a.sub_(grad_a * lr_unit)
    return loss


@contextmanager
def intra_op_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (None: leave as is), then restore the old number.
    One thread is the default of the trainer: its passes over (U, B) arrays are too short to share well."""
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@dataclass
class OneHiddenResult:
    """Per network (S,): final ``nets``; ``loss`` the full-data loss when it stopped (or at the end);
    ``steps`` steps taken; ``lr`` final rate; ``cuts`` rate cuts made; ``stopped_by_rule`` whether the rule
    ended it before ``max_steps``. ``net_steps``: Σ_s steps (the work done); ``seconds`` wall time."""

    nets: Nets
    loss: torch.Tensor
    steps: torch.Tensor
    lr: torch.Tensor
    cuts: torch.Tensor
    stopped_by_rule: torch.Tensor
    batch_loss: torch.Tensor
    net_steps: int
    seconds: float

    def hits(self, threshold: float = 1e-5) -> np.ndarray:
        """(S,) bool: full-data loss ≤ threshold (P1's 'hit')."""
        return (self.loss <= threshold).cpu().numpy()


def _check_inputs(nets: Nets, x: torch.Tensor, y: torch.Tensor, batch_size: int, steps: int, tau: float,
                  output: str) -> None:
    if x.dim() != 2 or x.shape[1] != nets.W.shape[1] or y.shape != (x.shape[0],):
        raise ValueError(f"need x: (n, {nets.W.shape[1]}) and y: (n,); got {tuple(x.shape)} and {tuple(y.shape)}")
    if batch_size < 1 or steps < 0 or tau <= 0:
        raise ValueError(f"need batch_size ≥ 1 (use n for full batch), steps ≥ 0, τ > 0; got {batch_size}, {steps}, {tau}")
    if output not in ("sum", "mean"):
        raise ValueError(f"unknown output {output!r}: choose 'sum' or 'mean'")
    if not bool(((y == 1) | (y == -1)).all()):
        raise ValueError("labels y must be ±1")


def train_onehidden(nets: Nets, x: torch.Tensor, y: torch.Tensor, *, lr: float, batch_size: int, steps: int,
                    batch_seed: int = 0, tau: float = 1.0, output: Output = "sum", check_every: int = 100,
                    cuts: int = 3, stop_loss: float = 1e-5, tol: float = 1e-5, threads: int | None = 1,
                    progress: Callable[[Iterator[int], int], Iterator[int]] | None = None) -> OneHiddenResult:
    """Train all networks in ``nets`` (copied, not modified) on x: (n, d), y: (n,) ±1 with shared minibatches
    (:func:`epoch_batches` from ``batch_seed``) and the authors' rule, for at most ``steps`` steps.

    The dtype and device are those of ``nets``. ``threads``: torch intra-op threads while training (see
    :func:`intra_op_threads`). ``progress``: optional wrapper of the step loop, called as
    ``progress(iterable, total)``.
    """
    _check_inputs(nets, x, y, batch_size, steps, tau, output)
    with intra_op_threads(threads):
        return _train(nets, x, y, lr=lr, batch_size=batch_size, steps=steps, batch_seed=batch_seed, tau=tau,
                      output=output, check_every=check_every, cuts=cuts, stop_loss=stop_loss, tol=tol,
                      progress=progress)


def _train(nets: Nets, x: torch.Tensor, y: torch.Tensor, *, lr: float, batch_size: int, steps: int, batch_seed: int,
           tau: float, output: Output, check_every: int, cuts: int, stop_loss: float, tol: float,
           progress: Callable | None) -> OneHiddenResult:
    """The loop of :func:`train_onehidden` (inputs already checked)."""
    dev, dt = nets.W.device, nets.W.dtype
    x, y = x.to(device=dev, dtype=dt), y.to(device=dev, dtype=dt)
    S = len(nets.widths)
    live = Nets(nets.W.clone(), nets.a.clone(), nets.widths.clone())
    ids = torch.arange(S, device=dev)                           # which original network each live one is
    rule = AuthorsRule.start(lr, S, cuts=cuts, stop_loss=stop_loss, tol=tol, check_every=check_every, device=dev,
                             dtype=dt)
    out = Nets(nets.W.clone(), nets.a.clone(), nets.widths.clone())
    start = torch.cat([torch.zeros(1, dtype=torch.int64, device=dev), nets.widths.cumsum(0)[:-1]])
    res_loss = torch.full((S,), torch.nan, dtype=dt, device=dev)
    res_steps = torch.full((S,), steps, dtype=torch.int64, device=dev)
    res_lr, res_cuts = torch.full((S,), float(lr), dtype=dt, device=dev), torch.zeros(S, dtype=torch.int64, device=dev)
    by_rule = torch.zeros(S, dtype=torch.bool, device=dev)
    res_batch = torch.full((S,), torch.nan, dtype=dt, device=dev)
    net_steps = 0

    def retire(which: torch.Tensor, step: int, ruled: bool, batch_loss: torch.Tensor) -> None:
        """Record networks ``which`` (positions in the live block): weights, full-data loss, steps, rate."""
        sub = live.select(which)
        for k, s in enumerate(ids[which].tolist()):
            w, a = sub.network(k)
            out.W[start[s]:start[s] + len(a)] = w
            out.a[start[s]:start[s] + len(a)] = a
        res_loss[ids[which]] = full_loss(sub, x, y, output=output, tau=tau)
        res_steps[ids[which]] = step
        res_lr[ids[which]] = rule.lr[which]
        res_cuts[ids[which]] = cuts - rule.cuts_left[which]
        by_rule[ids[which]] = ruled
        res_batch[ids[which]] = batch_loss[which]

    owner, coef = live.owner, scale_per_unit(live, output)
    lr_unit = rule.lr[owner]
    t0 = time.perf_counter()
    batches = epoch_batches(x.shape[0], batch_size, batch_seed, dev)
    loop = range(1, steps + 1)
    loss = torch.full((S,), torch.nan, dtype=dt, device=dev)
    for step in (progress(loop, steps) if progress else loop):
        idx = next(batches)
        loss = sgd_step(live, owner, coef, lr_unit, x[idx], y[idx], tau)
        net_steps += len(ids)
        lr_before = rule.lr
        stopped = rule.update(loss, step)
        if bool(stopped.any()):
            retire(stopped.nonzero()[:, 0], step, True, loss)
            keep = (~stopped).nonzero()[:, 0]
            live, ids, rule = live.select(keep), ids[keep], rule.select(keep)
            owner, coef = live.owner, scale_per_unit(live, output)
            lr_unit = rule.lr[owner]
            if len(ids) == 0:
                break
        elif step % check_every == 0 and not torch.equal(lr_before, rule.lr):
            lr_unit = rule.lr[owner]
    if len(ids):
        retire(torch.arange(len(ids), device=dev), steps, False, loss)
    return OneHiddenResult(nets=out, loss=res_loss, steps=res_steps, lr=res_lr, cuts=res_cuts, stopped_by_rule=by_rule,
                           batch_loss=res_batch, net_steps=net_steps, seconds=time.perf_counter() - t0)


def train_autograd(nets: Nets, x: torch.Tensor, y: torch.Tensor, *, lr: float, batch_size: int, steps: int,
                   batch_seed: int = 0, tau: float = 1.0, output: Output = "sum", check_every: int = 100,
                   cuts: int = 3, stop_loss: float = 1e-5, tol: float = 1e-5) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
    """The naive reference path, for tests and :func:`compare_with_autograd` only (slow): each network alone,
    autograd through :func:`companion.training.nets.forward` and :func:`companion.training.losses.tau_hinge`, a
    plain SGD update, the same minibatches and rule.

    Returns per network (w: (I, d), a: (I,), steps taken).
    """
    _check_inputs(nets, x, y, batch_size, steps, tau, output)
    results = []
    for s in range(len(nets.widths)):
        w0, a0 = nets.network(s)
        I, d = w0.shape
        W = [w0.reshape(1, I, 1, d).clone().requires_grad_(), a0.reshape(1, I, 1, 1).clone().requires_grad_()]
        rule = AuthorsRule.start(lr, 1, cuts=cuts, stop_loss=stop_loss, tol=tol, check_every=check_every,
                                 device=w0.device, dtype=w0.dtype)
        batches, taken = epoch_batches(x.shape[0], batch_size, batch_seed, w0.device), steps
        for step in range(1, steps + 1):
            idx = next(batches)
            loss = tau_hinge(forward(W, x[idx], scale=output), y[idx], tau)             # (1,)
            grads = torch.autograd.grad(loss.sum(), W)
            with torch.no_grad():
                for p, g in zip(W, grads):
                    p -= rule.lr[0] * g
            if bool(rule.update(loss.detach(), step)[0]):
                taken = step
                break
        results.append((W[0].detach().reshape(I, d), W[1].detach().reshape(I), taken))
    return results


def compare_with_autograd(nets: Nets, x: torch.Tensor, y: torch.Tensor, **kw) -> tuple[float, bool]:
    """Train ``nets`` by :func:`train_onehidden` and by :func:`train_autograd` with the same keyword arguments
    (``lr``, ``batch_size``, ``steps``, ``batch_seed``, ``check_every``, …): (largest absolute difference of
    any final weight, w or a, over all networks; whether every network stopped at the same step)."""
    fast = train_onehidden(nets, x, y, **kw)
    ref = train_autograd(nets, x, y, **kw)
    diff = max(max(float((fast.nets.network(s)[0] - w).abs().max()), float((fast.nets.network(s)[1] - a).abs().max()))
               for s, (w, a, _) in enumerate(ref))
    same = all(int(fast.steps[s]) == t for s, (_, _, t) in enumerate(ref))
    return diff, same


def matmul_flops(units: int, d: int, batch_size: int) -> int:
    """Multiply-add FLOPs of one step on ``units`` hidden units: forward W xᵀ plus the weight gradient, each
    2·B·U·d, and the output layer's forward and gradient, each 2·B·U."""
    return 4 * batch_size * units * (d + 1)
