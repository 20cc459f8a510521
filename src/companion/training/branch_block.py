"""A hand-written SGD step for two-layer branch networks, all networks of a call in one block (no autograd).

The networks of :func:`companion.training.train.train` with one hidden layer: network s has I branches of h
hidden units, layers W0: (S, I, h₁, d) and W1: (S, I, out, h₁) (:mod:`companion.training.nets`), output
f_s(x) = c Σ_i W1_si relu(W0_si x) with c = 1 (``"sum"``) or 1/I (``"mean"``). With PyTorch's default
initialisation and biases (:func:`companion.training.nets.init_default`) the inputs carry a constant-1 column and
every branch one *constant unit* (h₁ = h + 1) whose incoming row is frozen at (0, …, 0, 1), so that its
activation is relu(1) = 1 exactly; its output weights are the second layer's biases.

Layout. The block keeps, for the S networks (rows: the trainer reorders them when networks stop):

- ``Wh``: (S, I·h, d), the incoming rows of the h *real* hidden units of every branch, branch after branch (a
  view of W0 when there are no constant units);
- ``V``: (S, out, I·h), the output weights in the order of Wh's rows;
- ``c``: (S, I, out), with constant units only: the output biases (the weights on the constant units, which
  leave the products: their activation is 1 and their frozen rows never change).

One step on minibatch inputs X_s: (B, d) (one per network, or one shared (n, d) full batch) is, per network,

    Z = Wh X_sᵀ (I·h, B),  A = relu(Z),  F = c (V A + Σ_i c_i 1ᵀ)  (out, B),  G = r_s ∂loss/∂F,
    gA = Vᵀ G,  gZ = gA ⊙ [A > 0],
    Wh ← (1 − r_s λ_s) Wh − gZ X_s,  V ← (1 − r_s λ_s) V − G Aᵀ,  c_i ← (1 − r_s λ_s) c_i − G 1,

with r_s the network's rate and λ_s its coupled weight decay: W ← W − r(∇ + λW), as the generic path, with the
rate folded into G (an (out, B) array) instead of the gradients, so the first layer is updated by one GEMM that
writes into Wh (``baddbmm_``) and no gradient of weight size is ever formed. Memory besides the weights: two
(S, I·h, B) activations (reused across steps), the minibatch (S, B, d), and, with constant units, the packed copy
of the first layer.

The dual first layer. Every input the networks ever see is a row of the training set X (n, d), and every update
of Wh is gZ X_b, in the row space of X. So the block can keep, instead of Wh, the pre-activations of the whole
training set D = Wh Xᵀ (S, I·h, n): a step reads Z = D[:, b] (no product) and updates
D ← (1 − rλ) D − gZ K[b, :] with the Gram matrix K = X Xᵀ (n, n): one GEMM of 2·B·I·h·n FLOPs instead of the
primal 2 × 2·B·I·h·d, and the full-data losses at the checks come for free. The weights themselves are kept as
Wh = α·Wh₀ + C X (α (S, 1, 1) the accumulated decay, C (S, I·h, n) the accumulated −gZ scattered to the batch's
columns) and formed once, at the end. It pays when n < 2d (CIFAR-10: d = 3073, n ≤ 2000); :func:`choose_first_layer`
takes it when n ≤ 1.5·d. Exact in exact arithmetic; in floating point D and Wh Xᵀ differ by rounding.

``∂loss/∂F`` is written by hand for the two losses of P1 (:mod:`companion.training.losses`): the τ-hinge
(``tau_hinge``, out = 1) and the multi-class hinge (``multiclass_hinge``), with the conventions of autograd at the
kinks (clamp passes the gradient at 0, relu does not).

:func:`unsupported` says when the block does not apply (then :func:`companion.training.train.train` takes the generic
path); :mod:`companion.training.branch_bench` times both paths and reports their share of the machine's rooflines.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal, Sequence

import torch

from companion.training.losses import LossFn, multiclass_hinge, tau_hinge
from companion.training.nets import Layers, Scale

LossKind = Literal["tau_hinge", "multiclass_hinge"]
FirstLayer = Literal["auto", "primal", "dual"]


@dataclass(frozen=True)
class LossSpec:
    """A loss the block differentiates by hand: its kind and its parameter (τ, or the margin)."""

    kind: LossKind
    param: float


def loss_spec(loss_fn: LossFn) -> LossSpec | None:
    """The :class:`LossSpec` of ``loss_fn``: ``tau_hinge`` / ``multiclass_hinge`` themselves or a
    ``functools.partial`` of them that sets only ``tau`` / ``margin`` by keyword; None for any other loss."""
    params = {tau_hinge: ("tau_hinge", "tau"), multiclass_hinge: ("multiclass_hinge", "margin")}
    fn, kw = loss_fn, {}
    if isinstance(loss_fn, functools.partial):
        if loss_fn.args:
            return None
        fn, kw = loss_fn.func, dict(loss_fn.keywords)
    if fn not in params:
        return None
    kind, name = params[fn]
    if set(kw) - {name}:
        return None
    return LossSpec(kind, float(kw.get(name, 1.0)))


def _constant_units(layers: Sequence[torch.Tensor], x: torch.Tensor,
                    trainable: Sequence[torch.Tensor] | None) -> tuple[bool, str]:
    """(whether the networks carry init_default's constant units, "" or why the block cannot train them).

    Constant units: the first layer's mask freezes exactly its last row, the second layer trains fully, every
    frozen row is (0, …, 0, 1) and the inputs' last column is 1. Masks that train everything are no masks."""
    if trainable is None:
        return False, ""
    if len(trainable) != 2:
        return False, f"{len(trainable)} trainable masks for 2 layers"
    m0, m1 = (m.to(torch.float64) for m in trainable)
    if bool((m0 == 1).all()) and bool((m1 == 1).all()):
        return False, ""
    W0 = layers[0]
    if m0.shape[-2:] != W0.shape[-2:] or m0.numel() != W0.shape[2] * W0.shape[3] or not bool((m1 == 1).all()) \
            or not bool((m0[..., :-1, :] == 1).all()) or not bool((m0[..., -1, :] == 0).all()):
        return False, "trainable masks other than init_default's (the first layer's last row frozen)"
    e = torch.zeros(W0.shape[3], dtype=W0.dtype, device=W0.device)
    e[-1] = 1
    if not bool((W0[:, :, -1, :] == e).all()):
        return False, "the frozen rows are not constant units (0, …, 0, 1)"
    if not bool((x[..., -1] == 1).all()):
        return False, "the inputs lack the constant-1 column of the constant units"
    return True, ""


def unsupported(layers: Sequence[torch.Tensor], x: torch.Tensor, loss_fn: LossFn, *,
                mask: torch.Tensor | None = None, trainable: Sequence[torch.Tensor] | None = None,
                branch_chunk: int | None = None) -> str:
    """"" when the block trains these networks exactly as the generic path would, else the reason it does not:
    it needs two layers (one hidden layer per branch), a loss of :func:`loss_spec`, inputs x: (n, d), no padding
    ``mask``, no ``branch_chunk`` (the block holds whole activations), a CPU or CUDA device and a floating dtype,
    and trainable masks that are none, all ones or init_default's constant units."""
    if len(layers) != 2:
        return f"{len(layers)} layers (the block trains one hidden layer per branch)"
    if loss_spec(loss_fn) is None:
        return f"the loss {getattr(loss_fn, '__name__', loss_fn)!r} is not tau_hinge or multiclass_hinge"
    if x.dim() != 2 or x.shape[1] != layers[0].shape[3]:
        return f"inputs of shape {tuple(x.shape)} for a first layer of fan-in {layers[0].shape[3]}"
    if mask is not None:
        return "a padding mask (networks of different widths)"
    if branch_chunk is not None:
        return "branch_chunk (memory-bounded training)"
    if layers[0].device.type not in ("cpu", "cuda") or not layers[0].dtype.is_floating_point:
        return f"device {layers[0].device} / dtype {layers[0].dtype}"
    if layers[1].shape[:2] != layers[0].shape[:2] or layers[1].shape[3] != layers[0].shape[2]:
        return f"layer shapes {tuple(layers[0].shape)} and {tuple(layers[1].shape)} do not chain"
    return _constant_units(layers, x.to(layers[0].device), trainable)[1]


class BranchBlock:
    """The working state of S two-layer networks (see the module docstring) and its step.

    ``work``: the tensors whose leading dimension is the network (the trainer swaps their rows when networks
    stop and trains the first k rows); :meth:`step` and :meth:`full_loss` act on the first k rows;
    :meth:`write_back` puts the trained weights into generic layers (rows in the same order as ``work``).
    Where no packing is needed (no constant units; out = 1 for ``V``) the working tensors are views of
    ``layers``, which then train in place: pass copies to keep them.
    """

    def __init__(self, layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *,
                 scale: Scale, trainable: Sequence[torch.Tensor] | None, decay: bool,
                 example_chunk: int | None = None, first_layer: FirstLayer = "auto") -> None:
        why = unsupported(layers, x, loss_fn, trainable=trainable)
        if why:
            raise ValueError(f"the branch block does not apply: {why}")
        self.spec, self.loss_fn = loss_spec(loss_fn), loss_fn
        W0, W1 = layers
        S, I, h1, d = W0.shape
        self.const, _ = _constant_units(layers, x, trainable)
        self.h = h1 - int(self.const)
        self.I, self.out, self.d = I, W1.shape[2], d
        self.x, self.y = x, y
        self.mean, self.decay, self.example_chunk = scale == "mean", decay, example_chunk
        h = self.h
        self.Wh = (W0[:, :, :h] if self.const else W0).reshape(S, I * h, d).contiguous()
        self.V = W1[..., :h].permute(0, 2, 1, 3).reshape(S, self.out, I * h).contiguous()
        self.c = W1[..., h].contiguous() if self.const else None                        # (S, I, out)
        self.dual = choose_first_layer(first_layer, n=x.shape[0], d=d) == "dual"
        self._buffers: dict[str, torch.Tensor] = {}
        if self.dual:                                   # D = W Xᵀ on the training set, W = α·Wh + C X
            self.K = x @ x.T                                                            # (n, n)
            self.D = torch.mm(self.Wh.view(-1, d), x.T).view(S, I * h, -1)              # (S, I·h, n)
            self.C = torch.zeros_like(self.D)
            self.alpha = torch.ones(S, 1, 1, dtype=W0.dtype, device=W0.device)
            self.work = [self.Wh, self.D, self.C, self.alpha, self.V]
        else:
            self.work = [self.Wh, self.V]
        self.work += [self.c] if self.const else []

    # ---- pieces

    def _buffer(self, name: str, shape: tuple[int, ...]) -> torch.Tensor:
        """A reused work array of ``shape`` (grown when a larger one is asked for)."""
        n = 1
        for s in shape:
            n *= s
        buf = self._buffers.get(name)
        if buf is None or buf.numel() < n:
            buf = self._buffers[name] = torch.empty(n, dtype=self.Wh.dtype, device=self.Wh.device)
        return buf[:n].view(shape)

    def _hidden(self, k: int, xb: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """A = relu(Wh Xᵀ): (k, I·h, B), for shared inputs (B, d) or per-network ones (k, B, d) (primal)."""
        Wh = self.Wh[:k]
        B = xb.shape[-2]
        Z = out if out is not None else torch.empty(k, Wh.shape[1], B, dtype=Wh.dtype, device=Wh.device)
        if xb.dim() == 2:
            torch.mm(Wh.reshape(-1, self.d), xb.T, out=Z.view(-1, B))
        else:
            torch.bmm(Wh, xb.transpose(1, 2), out=Z)
        return Z.clamp_(min=0.0)

    def _outputs(self, k: int, A: torch.Tensor) -> torch.Tensor:
        """F: (k, out, B) from the activations A (k, I·h, B)."""
        f = torch.bmm(self.V[:k], A)
        if self.c is not None:
            f += self.c[:k].sum(1).unsqueeze(-1)
        return f / self.I if self.mean else f

    def _loss_grad(self, f: torch.Tensor, y: torch.Tensor, rate: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """((k,) loss of outputs f (k, out, B) on labels y ((B,) or (k, B)); r·∂loss/∂(V A + Σc): (k, out, B))."""
        k, C, B = f.shape
        coef = rate / (B * (self.I if self.mean else 1))                                # (k,)
        if self.spec.kind == "tau_hinge":
            tau = self.spec.param
            m = 1.0 - y * f[:, 0] / tau                                                 # (k, B)
            loss = m.clamp(min=0.0).mean(-1)
            G = torch.where(m >= 0, y * (-coef / tau)[:, None], 0.0)
            return loss, G.unsqueeze(1).to(f.dtype)
        idx = y.expand(k, B).unsqueeze(1)                                               # (k, 1, B)
        m = self.spec.param - f.gather(1, idx) + f                                      # (k, C, B)
        loss = m.clamp(min=0.0).scatter(1, idx, 0.0).sum(1).mean(-1) / C
        M = (m >= 0).to(f.dtype).scatter_(1, idx, 0.0)
        M.scatter_(1, idx, -M.sum(1, keepdim=True))
        return loss, M * (coef / C)[:, None, None]

    # ---- what the trainer calls

    def _hidden_dual(self, k: int, idx: torch.Tensor | None, out: torch.Tensor) -> torch.Tensor:
        """A = relu(D[:, idx]): (k, I·h, B) (dual; idx None: every example)."""
        D = self.D[:k]
        if idx is None:
            return torch.clamp(D, min=0.0, out=out)
        torch.gather(D, 2, idx.unsqueeze(1).expand(k, D.shape[1], idx.shape[1]), out=out)
        return out.clamp_(min=0.0)

    @torch.no_grad()
    def step(self, idx: torch.Tensor | None, rate: torch.Tensor, wd: torch.Tensor) -> torch.Tensor:
        """One SGD step of the first k = len(rate) networks on minibatch rows ``idx`` ((k, B); None: the full
        data), in place; rate, wd: (k,). Returns the (k,) minibatch losses before the step."""
        if self.dual:
            return self._step_dual(idx, rate, wd)
        k = rate.shape[0]
        xb, yb = (self.x, self.y) if idx is None else (_rows(self.x, idx), self.y[idx])
        B, IH = xb.shape[-2], self.Wh.shape[1]
        A = self._hidden(k, xb, self._buffer("A", (k, IH, B)))
        loss, G = self._loss_grad(self._outputs(k, A), yb, rate)
        gA = torch.bmm(self.V[:k].transpose(1, 2), G, out=self._buffer("gA", (k, IH, B)))
        torch.ops.aten.threshold_backward.grad_input(gA, A, 0, grad_input=gA)          # ⊙ [A > 0]
        gV = torch.bmm(G, A.transpose(1, 2))                                            # (k, out, I·h)
        Wh, V = self.Wh[:k], self.V[:k]
        if self.decay:
            keep = (1.0 - rate * wd).view(k, 1, 1)
            for W in self.work:
                W[:k].mul_(keep)
        if xb.dim() == 2:
            Wh.view(-1, self.d).addmm_(gA.view(-1, B), xb, alpha=-1.0)
        else:
            Wh.baddbmm_(gA, xb, alpha=-1.0)
        V.sub_(gV)
        if self.c is not None:
            self.c[:k].sub_(G.sum(2).unsqueeze(1))
        return loss

    def _step_dual(self, idx: torch.Tensor | None, rate: torch.Tensor, wd: torch.Tensor) -> torch.Tensor:
        """:meth:`step` on the dual first layer: Z = D[:, b] is read, not computed; the update
        W ← (1 − rλ)W − gZ X_b becomes D ← (1 − rλ)D − gZ K[b, :] (one GEMM of n columns instead of two of d)
        and C ← (1 − rλ)C − gZ at columns b, α ← (1 − rλ)α."""
        k = rate.shape[0]
        yb = self.y if idx is None else self.y[idx]
        IH, n = self.D.shape[1], self.D.shape[2]
        B = n if idx is None else idx.shape[1]
        A = self._hidden_dual(k, idx, self._buffer("A", (k, IH, B)))
        loss, G = self._loss_grad(self._outputs(k, A), yb, rate)
        gA = torch.bmm(self.V[:k].transpose(1, 2), G, out=self._buffer("gA", (k, IH, B)))
        torch.ops.aten.threshold_backward.grad_input(gA, A, 0, grad_input=gA)          # gZ = ⊙ [A > 0]
        gV = torch.bmm(G, A.transpose(1, 2))
        if self.decay:
            keep = (1.0 - rate * wd).view(k, 1, 1)
            for W in self.work[1:]:                                                     # all but Wh (α scales it)
                W[:k].mul_(keep)
        D, C = self.D[:k], self.C[:k]
        if idx is None:
            D.view(-1, n).addmm_(gA.view(-1, n), self.K, alpha=-1.0)
            C.sub_(gA)
        else:
            D.baddbmm_(gA, _rows(self.K, idx), alpha=-1.0)
            C.scatter_add_(2, idx.unsqueeze(1).expand(k, IH, B), gA.neg_())
        self.V[:k].sub_(gV)
        if self.c is not None:
            self.c[:k].sub_(G.sum(2).unsqueeze(1))
        return loss

    @torch.no_grad()
    def full_loss(self, k: int) -> torch.Tensor:
        """(k,) the loss (the trainer's own ``loss_fn``) of the first k networks on the full data."""
        n = self.x.shape[0]
        e = n if self.example_chunk is None else max(1, min(n, int(self.example_chunk)))
        hidden = (lambda a: self.D[:k, :, a:a + e].clamp(min=0.0)) if self.dual else \
            (lambda a: self._hidden(k, self.x[a:a + e]))
        f = torch.cat([self._outputs(k, hidden(a)) for a in range(0, n, e)], 2)
        return self.loss_fn(f.transpose(1, 2), self.y)

    def first_layer(self) -> torch.Tensor:
        """(S, I·h, d) the first layer's real rows. Dual: α·Wh + C X, formed in place in Wh on the first call
        (training is over then: the block is primal from that call on)."""
        if self.dual:
            S, IH, n = self.C.shape
            self.Wh.mul_(self.alpha).view(-1, self.d).addmm_(self.C.view(-1, n), self.x)
            self.dual = False
            self.work = [self.Wh, self.V] + ([self.c] if self.c is not None else [])
            del self.D, self.C, self.K
        return self.Wh

    @torch.no_grad()
    def write_back(self, layers: Sequence[torch.Tensor]) -> None:
        """Write the trained weights into generic layers W0: (S, I, h₁, d), W1: (S, I, out, h₁) (the constant
        units' frozen rows are left as they are)."""
        W0, W1 = layers
        S, I, h = W0.shape[0], self.I, self.h
        for dst, src in ((W0[:, :, :h], self.first_layer().view(S, I, h, self.d)),
                         (W1[..., :h], self.V.view(S, self.out, I, h).permute(0, 2, 1, 3))):
            if src.untyped_storage().data_ptr() != dst.untyped_storage().data_ptr():   # else a view: written
                dst.copy_(src)
        if self.c is not None:
            W1[..., h] = self.c


def choose_first_layer(first_layer: FirstLayer, *, n: int, d: int) -> Literal["primal", "dual"]:
    """The first layer's representation: ``"primal"`` (the weights, two GEMMs of d columns a step) or ``"dual"``
    (the pre-activations D = W Xᵀ of the n training examples, one GEMM of n columns a step: fewer FLOPs when
    2n < 4d, but full passes over D); ``"auto"``: dual when n ≤ 1.5·d (measured on 2 cores: 1.26× faster than
    primal at MNIST's n = 1000, d = 785; several times at CIFAR-10's d = 3073)."""
    if first_layer not in ("auto", "primal", "dual"):
        raise ValueError(f"unknown first_layer {first_layer!r}: choose 'auto', 'primal' or 'dual'")
    if first_layer == "auto":
        return "dual" if 2 * n <= 3 * d else "primal"
    return first_layer


def _rows(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x[idx] for idx (k, B): (k, B, ·), by one ``index_select`` of the flattened index (faster than advanced
    indexing with a 2-D index on the CPU)."""
    return torch.index_select(x, 0, idx.reshape(-1)).view(*idx.shape, *x.shape[1:])
