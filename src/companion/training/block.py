"""One trainer block for many one-hidden-layer ReLU networks with per-network hyper-parameters (P1 Table 1).

Network s: f_s(x) = c_s Σ_u a_u relu(w_uᵀx), no biases, c_s = 1 (``"sum"``) or 1/I_s (``"mean"``) or any
given factor; loss the τ_s-hinge mean_b max(0, 1 − y_b f_s(x_b)/τ_s). All networks share x: (n, d), the ±1
labels and the minibatch sequence (:func:`companion.training.onehidden.epoch_batches`, the same batches as
:func:`~companion.training.onehidden.train_onehidden`); each has its own learning rate, τ, output factor,
step cap, number of rate cuts and stopping rule:

- ``"authors"``: the authors' rule (:class:`companion.training.schedule.AuthorsRule`): stop when a step's
  minibatch loss is < ``stop_loss`` or not finite; every ``check_every`` steps cut the rate ×0.1 when the
  loss rose since the last cut, and stop when it rose with no cuts left;
- ``"cuts"``: the same rate cuts, no stopping test: the network runs to its cap (at its last rate once the
  cuts are spent);
- ``"none"``: a fixed rate for a fixed number of steps.

A network stops early only (1) by its rule, (2) when its loss is not finite, or (3) under ``"cuts"`` /
``"none"``, when its full-data loss is exactly 0 at a check (every ``zero_every`` steps and at the start):
then every minibatch's margin is ≥ 1, its gradient is exactly zero on every later step, and running it to
its cap would change nothing. Anything else runs to its cap.

Two engines give the same numbers (to float rounding): ``"compiled"``, the fused C kernel
``block_kernel.c`` (one SIMD lane per network, a whole step in registers and L1, K steps per call, groups
of networks split between ``threads`` Python threads, the GIL released), and ``"torch"``, the stacked-unit
step :func:`companion.training.onehidden.sgd_step` (any device). ``"auto"`` takes the compiled one on a CPU
in float32/float64 where it compiles.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

import torch

from companion.core import ckernel
from companion.training.onehidden import (Nets, OneHiddenResult, epoch_batches, intra_op_threads, matmul_flops, sgd_step,
                                          unit_sum_matrix)
from companion.training.schedule import AuthorsRule

Rule = Literal["authors", "cuts", "none"]
Engine = Literal["auto", "compiled", "torch"]
RULES: tuple[str, ...] = ("authors", "cuts", "none")
SOURCE = Path(__file__).with_name("block_kernel.c")
_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}
#: most steps per kernel call (bounds the minibatch-index buffer: K · batch_size int64)
MAX_CALL_STEPS = 1000


# ----------------------------------------------------------------------------------------------- the kernel

@functools.lru_cache(maxsize=1)
def _library() -> tuple[ctypes.CDLL | None, str]:
    """(the loaded block kernel, "") or (None, why not) (:func:`companion.core.ckernel.build`)."""
    dll, why = ckernel.build(SOURCE)
    if dll is None:
        return None, why
    p, lg = ctypes.c_void_p, ctypes.c_long
    for suf in ("f32", "f64"):
        getattr(dll, f"lanes_{suf}").restype = lg
        fn = getattr(dll, f"block_steps_{suf}")
        fn.argtypes = [lg, lg, p, p, p, p, lg, p, p, p, p, lg, lg, lg, p, p, p, p, p, p, p]
        fn.restype = ctypes.c_int
        fn = getattr(dll, f"block_loss_{suf}")
        fn.argtypes = [lg, lg, p, p, p, p, lg, p, p, lg, p, p, p]
        fn.restype = ctypes.c_int
    return dll, ""


def available() -> bool:
    """Whether the compiled block kernel can be used on this machine (compiles it on the first call)."""
    return _library()[0] is not None


def why_unavailable() -> str:
    """"" when :func:`available`, else the reason (no compiler, a compile error)."""
    return _library()[1]


def lanes(dtype: torch.dtype) -> int:
    """L, networks per SIMD group of the compiled kernel (16 float32 / 8 float64 with AVX-512)."""
    lib, why = _library()
    if lib is None:
        raise RuntimeError(f"the compiled block kernel is unavailable: {why}; use engine='torch'")
    return int(getattr(lib, f"lanes_{_SUFFIX[dtype]}")())


def resolve_engine(engine: Engine, device: torch.device, dtype: torch.dtype, d: int) -> Literal["compiled", "torch"]:
    """The engine that runs: ``"compiled"`` needs a CPU, float32/float64, d ≤ 64 and a compiler."""
    if engine not in ("auto", "compiled", "torch"):
        raise ValueError(f"unknown engine {engine!r}: choose 'auto', 'compiled' or 'torch'")
    if engine == "torch":
        return "torch"
    fits = device.type == "cpu" and dtype in _SUFFIX and d <= 64
    if engine == "compiled":
        if not fits:
            raise ValueError(f"the compiled engine needs CPU float32/float64 tensors and d ≤ 64; got {device}, "
                             f"{dtype}, d = {d}")
        if not available():
            raise ValueError(f"the compiled engine is unavailable: {why_unavailable()}")
        return "compiled"
    return "compiled" if fits and available() else "torch"


# ------------------------------------------------------------------------------------------------ the result

@dataclass
class BlockResult(OneHiddenResult):
    """:class:`~companion.training.onehidden.OneHiddenResult` (per network (S,): ``nets``, ``loss`` the full-data
    loss at the end = when it stopped, ``steps``, ``lr``, ``cuts``, ``stopped_by_rule`` the authors' rule ended it
    (a minibatch loss < stop_loss or not finite, or a rise with no cuts left), ``batch_loss`` the minibatch loss of
    its last step; ``net_steps`` Σ_s steps; ``seconds``; ``hits()``) and, per network: ``converged`` stopped at a
    full-data loss of exactly 0 (``"cuts"``/``"none"``); ``changing`` ran to its cap with the relative change of its
    full-data loss over the last tenth of its steps above ``settle_tol``; ``loss_at_mark`` the full-data loss at step
    cap − ⌊cap/10⌋ (nan if it stopped before); ``engine`` the engine that ran."""

    converged: torch.Tensor
    changing: torch.Tensor
    loss_at_mark: torch.Tensor
    engine: str


# ------------------------------------------------------------------------------------------------ the inputs

def per_network(value: Any, S: int, name: str, dtype: torch.dtype) -> torch.Tensor:
    """(S,) tensor (on the CPU) of a scalar or a length-S sequence/tensor; a clear error for any other length."""
    t = torch.as_tensor(value if not isinstance(value, torch.Tensor) else value.detach().cpu(), dtype=dtype)
    if t.dim() == 0:
        return t.expand(S).clone()
    if t.shape != (S,):
        raise ValueError(f"{name}: need a number or one value per network ({S}); got shape {tuple(t.shape)}")
    return t.clone()


def rule_codes(rule: Rule | Sequence[Rule], S: int) -> torch.Tensor:
    """(S,) int64 index into :data:`RULES` of each network's rule."""
    names = [rule] * S if isinstance(rule, str) else list(rule)
    if len(names) != S:
        raise ValueError(f"rule: need one rule or one per network ({S}); got {len(names)}")
    bad = sorted({str(r) for r in names} - set(RULES))
    if bad:
        raise ValueError(f"unknown rule(s) {bad}: choose from {list(RULES)}")
    return torch.tensor([RULES.index(r) for r in names], dtype=torch.int64)


def output_scale(output: Any, widths: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(S,) c_s from ``"sum"`` (1), ``"mean"`` (1/I_s), a sequence of these, or numbers."""
    S, w = len(widths), widths.cpu().to(torch.float64)
    if isinstance(output, str) or (isinstance(output, Sequence) and output and isinstance(output[0], str)):
        names = [output] * S if isinstance(output, str) else list(output)
        bad = sorted(set(names) - {"sum", "mean"})
        if len(names) != S or bad:
            raise ValueError(f"output: choose 'sum' or 'mean' (one, or one per network: {S}); got {bad or len(names)}")
        return torch.stack([torch.ones((), dtype=torch.float64) if o == "sum" else 1.0 / w[s]
                            for s, o in enumerate(names)]).to(dtype)
    return per_network(output, S, "output", torch.float64).to(dtype)


def _check(nets: Nets, x: torch.Tensor, y: torch.Tensor, batch_size: int, check_every: int, zero_every: int) -> None:
    if nets.W.dim() != 2 or nets.a.shape != (nets.W.shape[0],) or int(nets.widths.sum()) != nets.W.shape[0] \
            or len(nets.widths) == 0 or int(nets.widths.min()) < 1:
        raise ValueError(f"nets: need W (U, d), a (U,) and widths ≥ 1 summing to U; got W {tuple(nets.W.shape)}, "
                         f"a {tuple(nets.a.shape)}, widths summing to {int(nets.widths.sum())}")
    if x.dim() != 2 or x.shape[1] != nets.W.shape[1] or y.shape != (x.shape[0],) or x.shape[0] < 1:
        raise ValueError(f"need x: (n, {nets.W.shape[1]}) and y: (n,) with n ≥ 1; got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    if not bool(((y == 1) | (y == -1)).all()):
        raise ValueError("labels y must be ±1")
    if batch_size < 1 or check_every < 1 or zero_every < 1:
        raise ValueError(f"need batch_size, check_every and zero_every ≥ 1; got {batch_size}, {check_every}, "
                         f"{zero_every}")


# ------------------------------------------------------------------------------------------------ the engines

class _State:
    """What both engines share: the master weights (unit-stacked), per-network parameters (S,) and results."""

    def __init__(self, nets: Nets, x: torch.Tensor, y: torch.Tensor, tau: torch.Tensor, coef: torch.Tensor,
                 thr: torch.Tensor, caps: torch.Tensor):
        self.nets = Nets(nets.W.clone(), nets.a.clone(), nets.widths.clone())
        self.x, self.y, self.tau, self.coef, self.thr, self.caps = x, y, tau, coef, thr, caps
        S = len(nets.widths)
        self.start = torch.cat([torch.zeros(1, dtype=torch.int64), nets.widths.cpu().cumsum(0)[:-1]])
        self.stopped_at = torch.zeros(S, dtype=torch.int64)
        self.last_loss = torch.full((S,), math.nan, dtype=torch.float64)

    def units(self, ids: torch.Tensor) -> torch.Tensor:
        """(Σ I,) the master unit indices of networks ``ids`` (CPU int64), network after network."""
        w = self.nets.widths.cpu()[ids]
        first = torch.repeat_interleave(self.start[ids], w)
        local = torch.arange(int(w.sum())) - torch.repeat_interleave(w.cumsum(0) - w, w)
        return first + local


class _Torch:
    """The torch engine: :func:`companion.training.onehidden.sgd_step` on the live networks, compacted at stops."""

    name = "torch"

    def __init__(self, st: _State, threads: int | None):
        self.st, self.threads = st, threads

    def run(self, t0: int, ids: torch.Tensor, idx: list[torch.Tensor], lr: torch.Tensor) -> None:
        """Steps t0 + 1 … t0 + len(idx) of networks ``ids`` (CPU int64; none reaches its cap before the end)."""
        st, dev, dt = self.st, self.st.nets.W.device, self.st.nets.W.dtype
        end = t0 + len(idx)
        with intra_op_threads(self.threads):
            while len(ids) and t0 < end:
                units, on = st.units(ids).to(dev), ids.to(dev)
                sub = Nets(st.nets.W[units], st.nets.a[units], st.nets.widths[on])
                owner = sub.owner
                coef = st.coef.to(device=dev, dtype=dt)[on][owner]
                lr_u = lr.to(device=dev, dtype=dt)[on][owner]
                tau = st.tau.to(device=dev, dtype=dt)[on][:, None]
                thr = st.thr.to(dev)[on]
                stop = None
                while t0 < end and stop is None:
                    b = idx[t0 - end + len(idx)]
                    t0 += 1
                    loss = sgd_step(sub, owner, coef, lr_u, st.x[b], st.y[b], tau)     # tau: (S, 1) per network
                    bad = (loss < thr) | ~torch.isfinite(loss)
                    if bool(bad.any()):
                        stop = bad.cpu()
                st.nets.W[units], st.nets.a[units] = sub.W, sub.a
                st.last_loss[ids] = loss.cpu().double()
                if stop is not None:
                    st.stopped_at[ids[stop]] = t0
                    ids = ids[~stop]

    def full_loss(self, ids: torch.Tensor, chunk: int = 256) -> torch.Tensor:
        """(len(ids),) float64 full-data τ_s-hinge losses of networks ``ids``."""
        st, dev, dt = self.st, self.st.nets.W.device, self.st.nets.W.dtype
        parts = []
        for k in range(0, len(ids), chunk):
            part = ids[k:k + chunk]
            units, on = st.units(part).to(dev), part.to(dev)
            widths = st.nets.widths[on]
            Z = torch.relu(st.nets.W[units] @ st.x.T)
            coef = st.coef.to(device=dev, dtype=dt)[on]
            f = unit_sum_matrix(widths, st.nets.a[units] * torch.repeat_interleave(coef, widths)) @ Z
            tau = st.tau.to(device=dev, dtype=dt)[on][:, None]
            parts.append(torch.clamp(1.0 - st.y * f / tau, min=0.0).mean(-1).cpu().double())
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)


class _Compiled:
    """The compiled engine: the live networks packed by width into SIMD groups of L lanes, K steps per call."""

    name = "compiled"

    def __init__(self, st: _State, threads: int | None):
        self.st, dt = st, st.nets.W.dtype
        self.L, self.suf = lanes(dt), _SUFFIX[dt]
        self.lib = _library()[0]
        self.threads = max(1, threads if threads is not None else len(os.sched_getaffinity(0)))
        self.x, self.y = st.x.contiguous(), st.y.contiguous()
        self._layout: dict[str, Any] | None = None

    def _pack(self, ids: torch.Tensor) -> dict[str, Any]:
        """Networks ``ids`` (sorted by width, stable) into groups: W (Σ_g I_g·d·L,), a (Σ_g I_g·L,) filled from the
        master weights, and the index maps (kept while the same networks are packed again)."""
        if self._layout is None or not torch.equal(self._layout["ids"], ids):
            self._layout = self._lay_out(ids)
        p, st = self._layout, self.st
        dt = st.nets.W.dtype
        p["W"], p["a"] = torch.zeros(p["W_size"], dtype=dt), torch.zeros(p["a_size"], dtype=dt)
        p["W"][p["W_dst"]] = st.nets.W[p["a_src"]]
        p["a"][p["a_dst"]] = st.nets.a[p["a_src"]]
        return p

    def _lay_out(self, ids: torch.Tensor) -> dict[str, Any]:
        """Where each weight of networks ``ids`` goes: network q[k] in group k // L, lane k % L (q: ids sorted by
        width), unit i of it at a[aoff_g + i·L + lane], W[(aoff_g + i·L)·d + j·L + lane]."""
        st, L = self.st, self.L
        d = st.nets.W.shape[1]
        w_all = st.nets.widths.cpu()
        q = ids[torch.sort(w_all[ids], stable=True).indices]
        w = w_all[q]
        S, G = len(q), -(-len(q) // L)
        pos = torch.arange(S)
        group, lane = pos // L, pos % L
        width = w[torch.clamp((torch.arange(G) + 1) * L, max=S) - 1]                        # (G,) widest = last
        aoff = torch.cat([torch.zeros(1, dtype=torch.int64), (width * L).cumsum(0)])
        unit_net = torch.repeat_interleave(pos, w)
        i = torch.arange(int(w.sum())) - torch.repeat_interleave(w.cumsum(0) - w, w)
        unit_row, unit_lane = aoff[group[unit_net]] + i * L, lane[unit_net]

        def lanes_of(v: torch.Tensor, fill: float, dtype: torch.dtype) -> torch.Tensor:
            out = torch.full((G * L,), fill, dtype=dtype)
            out[:S] = v[q].to(dtype)
            return out

        return dict(ids=ids.clone(), q=q, G=G, width=width.contiguous(), off=(aoff[:-1] * d).contiguous(),
                    W_dst=(unit_row * d + unit_lane)[:, None] + torch.arange(d) * L, a_dst=unit_row + unit_lane,
                    a_src=st.units(q), W_size=int(aoff[-1]) * d, a_size=int(aoff[-1]), lanes_of=lanes_of,
                    split=self._split(width))

    def _split(self, width: torch.Tensor) -> list[tuple[int, int]]:
        """Contiguous ranges of groups with about equal work (Σ I_g), one per thread."""
        G, k = len(width), min(self.threads, len(width))
        cum = width.cumsum(0).double()
        cuts = [0] + [int(torch.searchsorted(cum, cum[-1] * j / k)) + 1 for j in range(1, k)] + [G]
        cuts = sorted(set(min(max(c, 0), G) for c in cuts))
        return [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]

    def _call(self, fn: Any, p: dict[str, Any], *args: Any) -> None:
        """``fn(g0, g1, width, off, *args)`` over the thread ranges, in parallel (ctypes releases the GIL)."""
        ptr = lambda t: t.data_ptr() if isinstance(t, torch.Tensor) else t          # noqa: E731
        rest = [ptr(a) for a in args]
        jobs = [(g0, g1) for g0, g1 in p["split"]]
        run = lambda r: fn(r[0], r[1], p["width"].data_ptr(), p["off"].data_ptr(), *rest)   # noqa: E731
        if len(jobs) == 1:
            codes = [run(jobs[0])]
        else:
            with ThreadPoolExecutor(len(jobs)) as pool:
                codes = list(pool.map(run, jobs))
        if any(codes):
            raise MemoryError(f"the block kernel failed (codes {codes})")

    def run(self, t0: int, ids: torch.Tensor, idx: list[torch.Tensor], lr: torch.Tensor) -> None:
        """Steps t0 + 1 … t0 + len(idx) of networks ``ids`` (CPU int64), in one kernel call per thread."""
        st = self.st
        if not len(ids):
            return
        p = self._pack(ids)
        dt, of = st.nets.W.dtype, p["lanes_of"]
        K, Bmax = len(idx), max(len(b) for b in idx)
        if all(len(b) == Bmax for b in idx):
            ix = torch.stack(idx).contiguous()
        else:
            ix = torch.zeros(K, Bmax, dtype=torch.int64)
            for k, b in enumerate(idx):
                ix[k, :len(b)] = b
        bsz = torch.tensor([len(b) for b in idx], dtype=torch.int64)
        lr_l, tau_l, c_l = of(lr, 0.0, dt), of(st.tau, 1.0, dt), of(st.coef, 0.0, dt)
        thr_l, cap_l = of(st.thr, 0.0, dt), of(st.caps, 0, torch.int64)
        stop_l, last_l = of(st.stopped_at, 0, torch.int64), of(st.last_loss, math.nan, dt)
        self._call(getattr(self.lib, f"block_steps_{self.suf}"), p, p["W"], p["a"], st.nets.W.shape[1], self.x,
                   self.y, ix, bsz, K, Bmax, t0, lr_l, tau_l, c_l, thr_l, cap_l, stop_l, last_l)
        S = len(p["q"])
        st.nets.W[p["a_src"]] = p["W"][p["W_dst"]]
        st.nets.a[p["a_src"]] = p["a"][p["a_dst"]]
        st.stopped_at[p["q"]] = stop_l[:S]
        st.last_loss[p["q"]] = last_l[:S].double()

    def full_loss(self, ids: torch.Tensor) -> torch.Tensor:
        """(len(ids),) float64 full-data τ_s-hinge losses of networks ``ids``."""
        if not len(ids):
            return torch.zeros(0, dtype=torch.float64)
        st = self.st
        p = self._pack(ids)
        dt, of = st.nets.W.dtype, p["lanes_of"]
        out = torch.zeros(p["G"] * self.L, dtype=dt)
        self._call(getattr(self.lib, f"block_loss_{self.suf}"), p, p["W"], p["a"], st.nets.W.shape[1], self.x,
                   self.y, self.x.shape[0], of(st.tau, 1.0, dt), of(st.coef, 0.0, dt), out)
        loss = torch.empty(len(st.nets.widths), dtype=torch.float64)
        loss[p["q"]] = out[:len(p["q"])].double()
        return loss[ids]


# ------------------------------------------------------------------------------------------------ the trainer

def train_block(nets: Nets, x: torch.Tensor, y: torch.Tensor, *, lr: Any, batch_size: int, steps: Any,
                rule: Rule | Sequence[Rule] = "authors", tau: Any = 1.0, output: Any = "sum", cuts: Any = 3,
                batch_seed: int = 0, check_every: int = 100, stop_loss: float = 1e-5, tol: float = 1e-5,
                zero_every: int = 500, settle_tol: float = 1e-2, engine: Engine = "auto",
                threads: int | None = None) -> BlockResult:
    """Train every network of ``nets`` (copied, not modified) on x: (n, d), y: (n,) ±1 in one block.

    Per network (a number for all, or one value per network): ``lr`` rate, ``steps`` step cap, ``rule``
    (``"authors"``, ``"cuts"`` or ``"none"``, see the module), ``tau`` τ > 0, ``output`` the factor c_s
    (``"sum"``, ``"mean"`` or numbers), ``cuts`` rate cuts allowed. Shared: the minibatches
    (:func:`~companion.training.onehidden.epoch_batches` of ``batch_size`` from ``batch_seed``), ``check_every``,
    ``stop_loss`` and ``tol`` of the rule, ``zero_every`` (steps between the full-data checks for an exact zero
    loss), ``settle_tol`` (the relative change over the last tenth of the steps above which a network that ran to
    its cap counts as still ``changing``). The dtype and device are those of ``nets``. ``engine``: see the module;
    ``threads``: the compiled engine's threads (None: the cores this process may use), the torch engine's
    intra-op threads (None: as they are). Every input is checked before any step runs.
    """
    _check(nets, x, y, batch_size, check_every, zero_every)
    S, dev, dt = len(nets.widths), nets.W.device, nets.W.dtype
    lr_t = per_network(lr, S, "lr", torch.float64)
    tau_t = per_network(tau, S, "tau", torch.float64)
    caps = per_network(steps, S, "steps", torch.float64)
    cuts_t = per_network(cuts, S, "cuts", torch.float64)
    codes = rule_codes(rule, S)
    coef = output_scale(output, nets.widths, torch.float64)
    for name, t, ok in (("lr", lr_t, lr_t >= 0), ("tau", tau_t, tau_t > 0), ("steps", caps, caps >= 0),
                        ("cuts", cuts_t, cuts_t >= 0)):
        if not bool((ok & torch.isfinite(t)).all()) or (name in ("steps", "cuts") and bool((t != t.round()).any())):
            raise ValueError(f"{name}: need finite values (lr ≥ 0, tau > 0, whole steps ≥ 0, whole cuts ≥ 0)")
    kind = resolve_engine(engine, dev, dt, nets.W.shape[1])
    caps, cuts_t = caps.long(), cuts_t.long()
    x, y = x.to(device=dev, dtype=dt), y.to(device=dev, dtype=dt)
    thr = torch.where(codes == 0, float(stop_loss), -math.inf).to(dt)
    st = _State(nets, x, y, tau_t.to(dt), coef.to(dt), thr, caps)
    eng: _Torch | _Compiled = (_Compiled if kind == "compiled" else _Torch)(st, threads)
    t_start = time.perf_counter()

    rules: dict[int, tuple[torch.Tensor, AuthorsRule]] = {}
    for code, stop in ((0, float(stop_loss)), (1, -math.inf)):     # "authors"; "cuts": no stopping test
        ids = (codes == code).nonzero()[:, 0]
        if len(ids):
            r = AuthorsRule.start(lr_t[ids].to(dt), len(ids), tol=tol, stop_loss=stop, check_every=check_every,
                                  dtype=dt)
            r.cuts_left = cuts_t[ids].clone()
            rules[code] = (ids, r)
    lr_now = lr_t.to(dt)
    by_rule, converged = torch.zeros(S, dtype=torch.bool), torch.zeros(S, dtype=torch.bool)
    marks = caps - caps // 10
    at_mark = torch.full((S,), math.nan, dtype=torch.float64)
    batches = epoch_batches(x.shape[0], batch_size, batch_seed, "cpu" if kind == "compiled" else dev)
    net_steps = 0

    def live_at(t: int) -> torch.Tensor:
        """(S,) bool: networks that take step t + 1."""
        return (st.stopped_at == 0) & ~converged & (caps > t)

    def checks(t: int) -> None:
        """After step t: the full-data loss at the tenth mark, and the exact-zero stop of "cuts"/"none"."""
        ids = ((st.stopped_at == 0) & ~converged & (marks == t) & (caps >= t)).nonzero()[:, 0]
        if len(ids):
            at_mark[ids] = eng.full_loss(ids)
        if t % zero_every == 0:
            ids = (live_at(t) & (codes != 0)).nonzero()[:, 0]
            zero = ids[eng.full_loss(ids) == 0] if len(ids) else ids
            st.stopped_at[zero] = t
            converged[zero] = True

    checks(0)
    t = 0
    while bool((live := live_at(t)).any()):
        later = marks[live & (marks > t)]
        end = min([t + MAX_CALL_STEPS, int(caps[live].min())] + ([int(later.min())] if len(later) else [])
                  + [(t // check_every + 1) * check_every] * bool((live & (codes != 2)).any())
                  + [(t // zero_every + 1) * zero_every] * bool((live & (codes != 0)).any()))
        ids = live.nonzero()[:, 0]
        eng.run(t, ids, [next(batches) for _ in range(end - t)], lr_now)
        net_steps += int((torch.where(st.stopped_at[ids] > 0, st.stopped_at[ids], end) - t).sum())
        by_rule[ids] |= (st.stopped_at[ids] > 0) & (codes[ids] == 0)
        t = end
        if t % check_every == 0:
            active = (st.stopped_at == 0) & ~converged & (caps >= t)
            for code, (rids, r) in rules.items():
                r.stopped = ~active[rids]
                r.update(st.last_loss[rids].to(dt), t)
                if code == 0:
                    new = rids[r.stopped & active[rids]]
                    st.stopped_at[new] = t
                    by_rule[new] = True
                lr_now[rids] = r.lr
        checks(t)

    steps_taken = torch.where(st.stopped_at > 0, st.stopped_at, torch.where(converged, 0, caps))
    final = eng.full_loss(torch.arange(S))
    ran_to_cap = (st.stopped_at == 0) & ~converged & (marks < caps)
    change = (final - at_mark).abs() / at_mark.clamp(min=1e-300)
    changing = ran_to_cap & ((change > settle_tol) | (torch.isnan(change) & ~torch.isnan(final)))
    cuts_made = torch.zeros(S, dtype=torch.int64)
    for rids, r in rules.values():
        cuts_made[rids] = cuts_t[rids] - r.cuts_left
    return BlockResult(nets=st.nets, loss=final.to(dt), steps=steps_taken, lr=lr_now, cuts=cuts_made,
                       stopped_by_rule=by_rule, converged=converged, changing=changing, loss_at_mark=at_mark,
                       batch_loss=st.last_loss.to(dt), net_steps=net_steps, seconds=time.perf_counter() - t_start,
                       engine=eng.name)


# ------------------------------------------------------------------------------------------------ the benchmark

def benchmark(widths: Sequence[int] = tuple(range(10, 22)), S: int = 100, steps: int = 2000, *, old_steps: int = 200,
              batch_size: int = 100, lr: float = 0.1, n: int = 1000, d: int = 10, seed: int = 0,
              threads: int | None = None) -> dict[str, float]:
    """The fixed-iteration work of Table 1's headline block (S seeds of every width, float32, rule ``"none"``,
    nobody stopping) by (a) :func:`train_block` on the compiled engine (``threads`` threads, None: all cores),
    ``steps`` steps, and on one thread; (b) :func:`~companion.training.onehidden.train_onehidden` on the same block
    (one torch thread, as the chapter's configurations run), ``old_steps`` steps; (c) the per-width design: one
    train_onehidden call per width; (d) :func:`train_block` on the torch engine, ``old_steps`` steps.

    Returns for each (``block``, ``block_1thread``, ``onehidden_block``, ``per_width``, ``torch_block``)
    ``*_net_steps_per_s`` and ``*_gflops``, counting :func:`~companion.training.onehidden.matmul_flops`
    (4·B·(d+1) = 44·B FLOP per unit and step at d = 10: forward w·x and a·h, backward for w and a), and the
    counts ``networks``, ``units``, ``flop_per_net_step``.
    """
    from companion.core.data import synthetic_teacher
    from companion.training.onehidden import init_nets, train_onehidden

    ds = synthetic_teacher(n=n, d=d, seed=seed)
    x, y = ds.x.float(), ds.y.float()
    per_net = [int(w) for w in widths for _ in range(S)]
    nets = init_nets(per_net, d, [1000 * w + s for w in widths for s in range(S)])
    U = sum(per_net)
    flop_step = matmul_flops(U, d, batch_size)
    out: dict[str, float] = {"networks": float(len(per_net)), "units": float(U),
                             "flop_per_net_step": flop_step / len(per_net)}

    def record(key: str, net_steps: int, seconds: float, work: float) -> None:
        out[f"{key}_net_steps_per_s"] = net_steps / seconds
        out[f"{key}_gflops"] = work / seconds / 1e9
        out[f"{key}_seconds"] = seconds

    for key, th in (("block", threads), ("block_1thread", 1)):
        r = train_block(nets, x, y, lr=lr, batch_size=batch_size, steps=steps, rule="none", engine="compiled",
                        threads=th)
        work = matmul_flops(int((r.steps * nets.widths).sum()), d, batch_size)
        record(key, r.net_steps, r.seconds, work)
    kw = dict(lr=lr, batch_size=batch_size, steps=old_steps, check_every=old_steps + 1, stop_loss=-1.0, threads=1)
    r = train_onehidden(nets, x, y, **kw)
    record("onehidden_block", r.net_steps, r.seconds, flop_step * old_steps)
    net_steps, seconds = 0, 0.0
    for w in widths:
        sub = nets.select(torch.tensor([i for i, wi in enumerate(per_net) if wi == w]))
        r = train_onehidden(sub, x, y, **kw)
        net_steps, seconds = net_steps + r.net_steps, seconds + r.seconds
    record("per_width", net_steps, seconds, flop_step * old_steps)
    r = train_block(nets, x, y, lr=lr, batch_size=batch_size, steps=old_steps, rule="none", engine="torch", threads=1)
    record("torch_block", r.net_steps, r.seconds, flop_step * old_steps)
    return out
