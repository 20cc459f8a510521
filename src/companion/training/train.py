"""Seed-batched SGD: S independent networks trained at once, one forward/backward per step for all.

Plain SGD with optional coupled weight decay (grad += wd·w, as ``torch.optim.SGD(weight_decay=…)``); the
rate and the decay may differ per network, so settings batch like seeds. Two rate/stopping rules:

- ``rule="check_full"`` (ours): every ``check_every`` steps the *full-data* loss of each network is computed,
  its rate is cut ×``lr_cut`` whenever that loss rose since the previous check (no limit on cuts), and the
  network stops once the loss is ≤ ``stop_loss``. Minibatches (``batches="hash"``): drawn per step, with
  replacement, from a counter-based hash of (network seed, step).
- ``rule="authors"``: the rule of the authors' ``fully_connected.py``, on each step's *minibatch* loss
  (:class:`companion.training.schedule.AuthorsRule`: stop at loss < 1e-5; every ``check_every`` steps cut ×0.1 if
  the loss rose since the last cut, at most 3 cuts, then stop). Minibatches (``batches="epochs"``): epochs
  of a per-network shuffled order, consecutive slices of ``batch_size`` (the last one shorter), as their
  loop does.

Either way a network sees the same batches whether it is trained alone or in a batch.

Two engines run the steps (``engine`` in :class:`SGDConfig`): ``"generic"``, autograd through
:func:`companion.training.nets.forward` for any depth (:func:`sgd_step`), and ``"block"``, the hand-written step of
:mod:`companion.training.branch_block` for two-layer branch networks (one hidden layer, the τ-hinge or multi-class
hinge, no padding mask, no branch chunks). ``"auto"`` (the default) takes the block whenever it applies
(:func:`companion.training.branch_block.unsupported` returns ""), else the generic path. Both give the same numbers
to float rounding: the same batches, rule and checks; only the arithmetic of a step differs.

Settings live in a frozen :class:`SGDConfig`; :func:`train` runs it (:func:`train_sgd` takes the settings as
keywords). Memory for huge networks (I = 50 000 branches): training can run in place on the caller's
weights, each step's gradients are formed and applied one branch chunk at a time (:func:`sgd_step`), and
networks that stop are compacted by swapping rows in place, so the only weight-sized tensors are the
weights themselves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import numpy as np
import torch

from companion.core.devices import Device
from companion.training import branch_block
from companion.training.losses import LossFn
from companion.training.nets import Layers, Scale, forward, init_branches
from companion.training.schedule import AuthorsRule

Rule = Literal["check_full", "authors"]
Batches = Literal["hash", "epochs"]
Engine = Literal["auto", "generic", "block"]


@dataclass
class TrainResult:
    layers: Layers
    loss: torch.Tensor        # (S,) final full-data loss
    steps: torch.Tensor       # (S,) steps taken (stopped early or ``steps``)
    lr: torch.Tensor          # (S,) final learning rates
    history: torch.Tensor     # (checks, S) full-data loss at each check (step k·check_every; nan once compacted)
    seconds: float
    stopped_by_rule: torch.Tensor | None = None   # (S,) bool: the rule ended it (else it ran to ``steps``)
    engine: str = "generic"   # the engine that ran: "generic" or "block"


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
                device: Device = "cpu", dtype: torch.dtype = torch.float32) -> tuple[Layers, torch.Tensor]:
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


@dataclass(frozen=True)
class SGDConfig:
    """The rule, rates and stopping settings of :func:`train` (see the module docstring), validated once.

    ``lr``, ``weight_decay``: one value, or one per network (a sequence or tensor, stored as a tuple).
    ``batches``: default ``"hash"`` for ``"check_full"``, ``"epochs"`` for ``"authors"``. ``lr_cut`` applies to
    ``"check_full"`` only. ``steps``: the most steps any network takes. ``compact``: finished networks leave
    the batch once fewer than this fraction of it still trains. ``branch_chunk``: gradients are formed and
    applied that many branches at a time (bounds the gradients' memory; None: all branches at once).
    ``example_chunk``: the full-data losses are computed that many examples at a time (None: all at once).
    ``engine``: ``"auto"``, ``"generic"`` or ``"block"`` (see the module docstring; ``"block"`` where it does not
    apply is an error). ``first_layer``: the block's representation of the first layer (``"primal"`` weights,
    ``"dual"`` pre-activations on the training set, ``"auto"``:
    :func:`companion.training.branch_block.choose_first_layer`); the generic engine ignores it.
    """

    steps: int
    lr: float | tuple[float, ...]
    weight_decay: float | tuple[float, ...] = 0.0
    batch_size: int | None = None
    check_every: int = 100
    stop_loss: float = 1e-5
    lr_cut: float = 0.1
    rule: Rule = "check_full"
    batches: Batches | None = None
    scale: Scale = "sum"
    compact: float = 0.9
    branch_chunk: int | None = None
    example_chunk: int | None = None
    engine: Engine = "auto"
    first_layer: branch_block.FirstLayer = "auto"

    def __post_init__(self) -> None:
        if self.engine not in ("auto", "generic", "block"):
            raise ValueError(f"unknown engine {self.engine!r}: choose 'auto', 'generic' or 'block'")
        if self.first_layer not in ("auto", "primal", "dual"):
            raise ValueError(f"unknown first_layer {self.first_layer!r}: choose 'auto', 'primal' or 'dual'")
        if self.rule not in ("check_full", "authors"):
            raise ValueError(f"unknown rule {self.rule!r}: choose 'check_full' or 'authors'")
        object.__setattr__(self, "batches", self.batches or ("epochs" if self.rule == "authors" else "hash"))
        if self.batches not in ("hash", "epochs"):
            raise ValueError(f"unknown batches {self.batches!r}: choose 'hash' or 'epochs'")
        if self.steps < 0 or self.check_every < 1:
            raise ValueError(f"need steps ≥ 0 and check_every ≥ 1, got {self.steps}, {self.check_every}")
        if self.scale not in ("sum", "mean"):
            raise ValueError(f"unknown scale {self.scale!r}: choose 'sum' or 'mean'")
        for name in ("batch_size", "branch_chunk", "example_chunk"):
            v = getattr(self, name)
            if v is not None and int(v) < 1:
                raise ValueError(f"{name} must be a positive integer or None, got {v}")
        for name in ("lr", "weight_decay"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)):
                v = v if isinstance(v, torch.Tensor) else torch.as_tensor(v, dtype=torch.float64)   # exact
                object.__setattr__(self, name, float(v) if v.dim() == 0 else tuple(float(a) for a in v.reshape(-1)))


@dataclass
class _Batch:
    """The networks still in the batch, stored as rows 0…k−1 of the working weights; every field has k rows."""

    ids: torch.Tensor                 # (k,) which original network each row is
    seeds: torch.Tensor               # (k,) int64
    lr: torch.Tensor                  # (k,) the check_full rates
    prev: torch.Tensor                # (k,) full-data loss at the previous check
    active: torch.Tensor              # (k,) bool
    wd: torch.Tensor                  # (k,)
    authors: AuthorsRule | None
    mask: torch.Tensor | None         # (k, I, 1, 1) padding mask

    @classmethod
    def start(cls, config: SGDConfig, seeds: Sequence[int], mask: torch.Tensor | None, dev: torch.device,
              dt: torch.dtype) -> "_Batch":
        """Every network in the batch, at its initial rate."""
        S = len(seeds)
        lr = _per_net(config.lr, S, dev, dt)
        authors = AuthorsRule.start(lr, S, stop_loss=config.stop_loss, check_every=config.check_every, device=dev,
                                    dtype=dt) if config.rule == "authors" else None
        return cls(ids=torch.arange(S, device=dev), seeds=torch.as_tensor(list(seeds), dtype=torch.int64, device=dev),
                   lr=lr, prev=torch.full((S,), torch.inf, dtype=dt, device=dev),
                   active=torch.ones(S, dtype=torch.bool, device=dev), wd=_per_net(config.weight_decay, S, dev, dt),
                   authors=authors, mask=mask)

    def rate(self) -> torch.Tensor:
        """(k,) the rates in use."""
        return self.lr if self.authors is None else self.authors.lr

    def select(self, keep: torch.Tensor, mask: torch.Tensor | None) -> "_Batch":
        """The rows ``keep`` only (``mask``: the full (S, I, 1, 1) padding mask, re-indexed by network)."""
        ids = self.ids[keep]
        return _Batch(ids=ids, seeds=self.seeds[keep], lr=self.lr[keep], prev=self.prev[keep],
                      active=self.active[keep], wd=self.wd[keep],
                      authors=self.authors.select(keep) if self.authors is not None else None,
                      mask=mask[ids] if mask is not None else None)


class _Sampler:
    """Minibatch rows per network and step (``None``: the full data), remembering the current epoch's order."""

    def __init__(self, config: SGDConfig, n: int) -> None:
        self.batches, self.n = config.batches, n
        self.B = n if config.batch_size is None or config.batch_size >= n else int(config.batch_size)
        self.per_epoch = -(-n // self.B)
        self.order, self.epoch = None, -1

    def __call__(self, seeds: torch.Tensor, step: int) -> torch.Tensor | None:
        """(k, B) example indices of ``step`` for the networks with these ``seeds``."""
        if self.B == self.n:
            return None
        if self.batches == "hash":
            return batch_indices(seeds, step, self.B, self.n)
        e, p = divmod(step, self.per_epoch)
        if self.order is None or self.epoch != e or self.order.shape[0] != len(seeds):
            self.order, self.epoch = epoch_order(seeds, e, self.n), e
        return self.order[:, p * self.B:(p + 1) * self.B]


def _chunks(I: int, branch_chunk: int | None) -> list[slice]:
    """Consecutive branch slices of at most ``branch_chunk`` branches (one slice for None)."""
    bc = I if branch_chunk is None or branch_chunk >= I else branch_chunk
    return [slice(a, min(a + bc, I)) for a in range(0, I, bc)]


def sgd_step(W: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *, rate: torch.Tensor,
             wd: torch.Tensor, scale: Scale = "sum", branch_chunk: int | None = None, mask: torch.Tensor | None = None,
             trainable: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """One SGD step of k networks, in place on ``W`` (each (k, I, ·, ·)), on inputs x ((n, d) or (k, n, d)).

    Returns the (k,) loss before the step. Each branch chunk's forward keeps its own graph; the outputs are
    summed, the loss's gradient with respect to that sum is taken once, and then each chunk's gradient
    (chunk-sized: (k, Ic, ·, ·) per layer) is formed and applied before the next one. Weight-sized memory:
    the weights, plus one chunk's gradients (not a full copy of gradients or weights).
    """
    I = W[0].shape[1]
    chunks = _chunks(I, branch_chunk)
    if len(chunks) == 1:                                   # one chunk: plain autograd, gradients weight-sized
        leaf = [w.detach().requires_grad_() for w in W]
        loss = loss_fn(forward(leaf, x, scale=scale), y)
        grads = torch.autograd.grad(loss.sum(), leaf)
        with torch.no_grad():
            _sgd_update(W, grads, rate, wd, mask, trainable)
        return loss.detach()
    leaves, outs = [], []
    for sl in chunks:
        leaf = [w.data[:, sl].requires_grad_() for w in W]     # .data: its own version counter, so updating
        leaves.append(leaf)                                    # one chunk in place does not void the next one's graph
        outs.append(forward(leaf, x, scale="sum"))
    with torch.no_grad():
        total = outs[0]
        for o in outs[1:]:
            total = total + o
    total = total.detach().requires_grad_()
    loss = loss_fn(total / I if scale == "mean" else total, y)
    (g_out,) = torch.autograd.grad(loss.sum(), total)
    for sl, leaf, o in zip(chunks, leaves, outs):
        grads = torch.autograd.grad(o, leaf, grad_outputs=g_out)
        with torch.no_grad():
            _sgd_update([w[:, sl] for w in W], grads, rate, wd, mask[:, sl] if mask is not None else None, trainable)
        del grads                                          # before the next chunk's are formed: one chunk's alive
    return loss.detach()


def _swap_rows(W: Sequence[torch.Tensor], a: int, b: int, branch_chunk: int | None) -> None:
    """Exchange networks (rows) a and b of every layer in place, a branch chunk at a time (chunk-sized temporary)."""
    for w in W:
        for sl in _chunks(w.shape[1], branch_chunk):
            tmp = w[a, sl].clone()
            w[a, sl] = w[b, sl]
            w[b, sl] = tmp


def _to_front(W: Sequence[torch.Tensor], rows: list[int], wanted: Sequence[int], branch_chunk: int | None) -> None:
    """Reorder rows in place so that ``rows`` (network at each row, updated) starts with ``wanted``, in order."""
    for j, net in enumerate(wanted):
        r = rows.index(net)
        if r != j:
            _swap_rows(W, j, r, branch_chunk)
            rows[j], rows[r] = rows[r], rows[j]


class _Generic:
    """The generic engine: the layers themselves are the working tensors (``work``), stepped by :func:`sgd_step`
    (autograd, any depth) on their first k rows."""

    def __init__(self, W: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn,
                 config: SGDConfig, trainable: Sequence[torch.Tensor] | None) -> None:
        self.work, self.x, self.y, self.loss_fn, self.config, self.trainable = list(W), x, y, loss_fn, config, trainable

    def step(self, idx: torch.Tensor | None, rate: torch.Tensor, wd: torch.Tensor,
             mask: torch.Tensor | None) -> torch.Tensor:
        """One step of the first k = len(rate) networks on rows ``idx`` (k, B) (None: the full data)."""
        xb, yb = (self.x, self.y) if idx is None else (self.x[idx], self.y[idx])
        return sgd_step([w[:len(rate)] for w in self.work], xb, yb, self.loss_fn, rate=rate, wd=wd, mask=mask,
                        trainable=self.trainable, scale=self.config.scale, branch_chunk=self.config.branch_chunk)

    def full_loss(self, k: int) -> torch.Tensor:
        """(k,) full-data loss of the first k networks."""
        c = self.config
        return self.loss_fn(forward([w[:k] for w in self.work], self.x, scale=c.scale, branch_chunk=c.branch_chunk,
                                    example_chunk=c.example_chunk), self.y)


class _Block:
    """The block engine (:class:`companion.training.branch_block.BranchBlock`) behind the same calls."""

    def __init__(self, W: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn,
                 config: SGDConfig, trainable: Sequence[torch.Tensor] | None) -> None:
        decay = config.weight_decay != 0 if isinstance(config.weight_decay, float) else any(config.weight_decay)
        self.block = branch_block.BranchBlock(W, x, y, loss_fn, scale=config.scale, trainable=trainable,
                                              decay=bool(decay), example_chunk=config.example_chunk,
                                              first_layer=config.first_layer)
        self.work = self.block.work

    def step(self, idx: torch.Tensor | None, rate: torch.Tensor, wd: torch.Tensor,
             mask: torch.Tensor | None) -> torch.Tensor:
        return self.block.step(idx, rate, wd)

    def full_loss(self, k: int) -> torch.Tensor:
        return self.block.full_loss(k)


def choose_engine(config: SGDConfig, layers: Sequence[torch.Tensor], x: torch.Tensor, loss_fn: LossFn, *,
                  mask: torch.Tensor | None = None,
                  trainable: Sequence[torch.Tensor] | None = None) -> Literal["generic", "block"]:
    """The engine :func:`train` runs: ``config.engine``, with ``"auto"`` resolved to ``"block"`` exactly when
    :func:`companion.training.branch_block.unsupported` finds nothing against it. ``"block"`` where it does not
    apply raises, with the reason."""
    if config.engine == "generic":
        return "generic"
    why = branch_block.unsupported(layers, x, loss_fn, mask=mask, trainable=trainable, branch_chunk=config.branch_chunk)
    if config.engine == "block" and why:
        raise ValueError(f"engine='block' does not apply here: {why}; use engine='generic' or 'auto'")
    return "generic" if why else "block"


def _check(b: _Batch, full: torch.Tensor, config: SGDConfig, taken: torch.Tensor, by_rule: torch.Tensor,
           c0: int) -> None:
    """The check_full rule at a check (step ``c0``), from the full-data loss (k,): cut rates whose loss rose
    since the previous check, stop networks at or below ``stop_loss``."""
    b.lr = torch.where(b.active & (full > b.prev), b.lr * config.lr_cut, b.lr)
    b.prev = full
    done = b.active & (full <= config.stop_loss)
    taken[b.ids[done]] = c0
    by_rule[b.ids[done]] = True
    b.active = b.active & ~done


def _interval(eng: _Generic | _Block, b: _Batch, sample: _Sampler, taken: torch.Tensor, by_rule: torch.Tensor,
              steps: range) -> None:
    """The SGD steps between two checks, on the batch's networks (the engine's leading rows); under the
    authors' rule each step's minibatch loss may stop networks (recorded in ``taken`` and ``by_rule``)."""
    for step in steps:
        loss = eng.step(sample(b.seeds, step), b.rate() * b.active, b.wd, b.mask)
        if b.authors is not None:                          # their rule, after the step, on its minibatch loss
            newly = b.active & b.authors.update(loss, step + 1)
            if bool(newly.any()):                          # (one test a step; the bookkeeping only at stops)
                taken[b.ids[newly]] = step + 1
                by_rule[b.ids[newly]] = True
                b.active = b.active & ~newly
                if not bool(b.active.any()):
                    return


def train(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, config: SGDConfig, *,
          seeds: Sequence[int], mask: torch.Tensor | None = None, trainable: Sequence[torch.Tensor] | None = None,
          progress: Callable | None = None, in_place: bool = False) -> TrainResult:
    """Train the S networks in ``layers`` (each (S, I, ·, ·)) on (x: (n, d), y) with seed-batched SGD.

    ``seeds``: one per network (drives its minibatches). ``mask`` (S, I, 1, 1): padded branches stay fixed;
    ``trainable``: per-layer 0/1 masks of the entries that train (frozen ones get neither gradient nor
    decay). ``progress``: optional wrapper for the loop over checks. ``in_place``: train ``layers``
    themselves (no copy; they are the result) instead of a copy. The engine: :func:`choose_engine`.

    Memory, in weight-sized tensors: the working weights (the result; a copy of ``layers`` unless
    ``in_place``) and one branch chunk's gradients (:func:`sgd_step`); the block engine instead keeps its
    packed copy of the first layer when the networks have constant units, and no gradients. Networks that stop
    move to the back rows by in-place swaps (chunk-sized temporaries) and the batch works on the leading rows.
    """
    out_W = list(layers) if in_place else [W.detach().clone() for W in layers]
    S = out_W[0].shape[0]
    dev, dt = out_W[0].device, out_W[0].dtype
    x, y = x.to(device=dev, dtype=dt), y.to(dev)
    which = choose_engine(config, out_W, x, loss_fn, mask=mask, trainable=trainable)
    eng = (_Block if which == "block" else _Generic)(out_W, x, y, loss_fn, config, trainable)
    sample = _Sampler(config, x.shape[0])
    b = _Batch.start(config, seeds, mask, dev, dt)
    lr_out = b.lr.clone()
    taken = torch.full((S,), config.steps, dtype=torch.int64, device=dev)
    by_rule = torch.zeros(S, dtype=torch.bool, device=dev)
    hist = torch.full((config.steps // config.check_every + 1, S), torch.nan, dtype=dt, device=dev)
    rows = list(range(S))                                  # the network at each row of the working tensors
    t0 = time.perf_counter()
    checks = range(0, config.steps + 1, config.check_every)
    fresh = None                                           # the full-data loss of all S networks, if current
    for k, c0 in enumerate(progress(checks, total=len(checks)) if progress else checks):
        with torch.no_grad():
            full = eng.full_loss(len(b.ids))
            hist[k, b.ids] = full
            fresh = full if rows == list(range(S)) and len(b.ids) == S else None
            if b.authors is None:
                _check(b, full, config, taken, by_rule, c0)
            if int(b.active.sum()) < config.compact * len(b.ids):          # finished networks leave the batch
                lr_out[b.ids] = b.rate()
                keep = b.active.nonzero()[:, 0]
                _to_front(eng.work, rows, b.ids[keep].tolist(), config.branch_chunk)
                b = b.select(keep, mask)
        if c0 == config.steps or len(b.ids) == 0:
            break
        _interval(eng, b, sample, taken, by_rule, range(c0, min(c0 + config.check_every, config.steps)))
        fresh = None
    lr_out[b.ids] = b.rate()
    _to_front(eng.work, rows, list(range(S)), config.branch_chunk)       # every network back in its own row
    with torch.no_grad():
        if fresh is None:                                  # else the last check saw these very weights
            fresh = eng.full_loss(S)
        if which == "block":
            eng.block.write_back(out_W)
    return TrainResult(layers=out_W, loss=fresh, steps=taken, lr=lr_out, history=hist[: k + 1],
                       seconds=time.perf_counter() - t0, stopped_by_rule=by_rule, engine=which)


def time_steps(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, config: SGDConfig, *,
               seeds: Sequence[int], trainable: Sequence[torch.Tensor] | None = None, steps: int = 10,
               warmup: int = 2) -> tuple[float, str]:
    """(seconds per step, engine) of :func:`train`'s loop between checks — the engine's steps and the rule's
    bookkeeping, on copies of ``layers`` — timed over ``steps`` steps after ``warmup`` ones; the engine's set-up,
    the checks and the final loss are left out (they are the same few full-data passes whatever the budget)."""
    W = [w.detach().clone() for w in layers]
    dev, dt = W[0].device, W[0].dtype
    x, y = x.to(device=dev, dtype=dt), y.to(dev)
    which = choose_engine(config, W, x, loss_fn, trainable=trainable)
    eng = (_Block if which == "block" else _Generic)(W, x, y, loss_fn, config, trainable)
    sample, b = _Sampler(config, x.shape[0]), _Batch.start(config, seeds, None, dev, dt)
    taken, by_rule = torch.zeros(len(seeds), dtype=torch.int64, device=dev), torch.zeros(len(seeds), dtype=torch.bool,
                                                                                            device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    _interval(eng, b, sample, taken, by_rule, range(0, warmup))
    sync()
    t0 = time.perf_counter()
    _interval(eng, b, sample, taken, by_rule, range(warmup, warmup + steps))
    sync()
    return (time.perf_counter() - t0) / steps, which


def train_sgd(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *,
              seeds: Sequence[int], mask: torch.Tensor | None = None, trainable: Sequence[torch.Tensor] | None = None,
              progress: Callable | None = None, in_place: bool = False, **settings) -> TrainResult:
    """:func:`train` with the settings of :class:`SGDConfig` as keyword arguments (``steps``, ``lr``, …)."""
    return train(layers, x, y, loss_fn, SGDConfig(**settings), seeds=seeds, mask=mask, trainable=trainable,
                 progress=progress, in_place=in_place)


def train_sequential(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *,
                     seeds: Sequence[int], **kw) -> list[TrainResult]:
    """The naive reference path, for tests and benchmarks only: the same networks trained one at a time (a
    Python loop over seeds, each through :func:`train_sgd`)."""
    return [train_sgd([W[s:s + 1] for W in layers], x, y, loss_fn, seeds=[seeds[s]], **kw)
            for s in range(layers[0].shape[0])]


def hits(result: TrainResult, threshold: float = 1e-5) -> np.ndarray:
    """(S,) bool: final training loss ≤ threshold (the global minimum 0 reached)."""
    return (result.loss <= threshold).cpu().numpy()
