"""The loss on a grid of a plane: the naive reference path and the fast evaluator, and their benchmark.

Fast evaluation: the first layer's pre-activation is linear along the plane,
``W₁(α, β)X = W₁ᶜX + α D₁X + β D₂X``, so the three products are computed once per block of examples
(and branch chunk), and every grid point is then evaluated on that block while it is in cache; later
layers are formed per grid point in batch. For one hidden layer on a CPU, a compiled kernel
(:mod:`companion.landscapes.plane_kernel`) forms each point's activations in registers and contracts them with its last
layer at once. :func:`evaluate_naive` is the reference (set the weights, full forward, one grid point at a
time); :func:`benchmark_shapes` times both at the chapters' shapes.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import numpy as np
import torch

from companion.core.devices import Device
from companion.landscapes.plane import Plane, grid_for, plane_from_solutions, plane_point
from companion.training.losses import LossFn
from companion.training.nets import Scale, forward

#: largest number of entries of one evaluator sub-block, per device type (a GPU wants large operations)
EVAL_BLOCK: dict[str, int] = {"cpu": 2**18, "cuda": 2**26}
#: examples per first-layer product on a CPU (a GPU takes all at once)
EXAMPLE_BLOCK_CPU = 1024


def evaluate_naive(plane: Plane, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, alphas: np.ndarray,
                   betas: np.ndarray, *, scale: Scale = "sum") -> np.ndarray:
    """The naive reference path: for every grid point set the weights and run the full forward (one point at a
    time; :func:`evaluate_fast` is checked against it). Returns (len(betas), len(alphas))."""
    out = np.empty((len(betas), len(alphas)))
    with torch.no_grad():
        for i, b in enumerate(betas):
            for j, a in enumerate(alphas):
                out[i, j] = float(loss_fn(forward(plane_point(plane, float(a), float(b)), x, scale=scale), y)[0])
    return out


def _check_inputs(plane: Plane, x: torch.Tensor, y: torch.Tensor, alphas: np.ndarray, betas: np.ndarray,
                  scale: str, **positive: int | None) -> None:
    """Raise a ValueError naming the fix for input the evaluators cannot use (before any kernel starts)."""
    if scale not in ("sum", "mean"):
        raise ValueError(f"unknown scale {scale!r}: choose 'sum' or 'mean'")
    C0 = plane.center[0]
    if C0.dim() != 4 or C0.shape[0] != 1:
        raise ValueError(f"the plane's layers must be (1, I, ·, ·) (one plane), got first layer {tuple(C0.shape)}")
    if x.dim() != 2 or x.shape[1] != C0.shape[3]:
        raise ValueError(f"x must be (n, d) with d = {C0.shape[3]} (the first layer's input size), got {tuple(x.shape)}")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y has {y.shape[0]} labels for {x.shape[0]} examples: pass one label per row of x")
    for name, g in (("alphas", alphas), ("betas", betas)):
        if np.ndim(g) != 1 or len(g) == 0:
            raise ValueError(f"{name} must be a non-empty 1-D array of plane coordinates, got shape {np.shape(g)}")
    for name, v in positive.items():
        if v is not None and int(v) < 1:
            raise ValueError(f"{name} must be a positive integer (or None for the default), got {v}")


def _point_weights(center: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor, ga: torch.Tensor,
                   gb: torch.Tensor) -> torch.Tensor:
    """One later layer at every grid point: (P, Ic, o, h) from (Ic, o, h) parts and (P,) coordinates, as one
    (P, 3) @ (3, Ic·o·h) product (ten times faster than broadcasting here)."""
    coef = torch.stack([torch.ones_like(ga), ga, gb], 1)
    return (coef @ torch.stack([center, d1, d2]).reshape(3, -1)).view(len(ga), *center.shape)


Engine = Literal["auto", "torch", "compiled"]


def fast_engine(plane: Plane, engine: Engine = "auto") -> Literal["torch", "compiled"]:
    """The engine :func:`evaluate_fast` uses for this plane: ``"compiled"`` (the fused C kernel of
    :mod:`companion.landscapes.plane_kernel`) for one-hidden-layer branches in float32/float64 on a CPU where it compiles,
    else ``"torch"``. ``engine="compiled"`` where it cannot run raises a ValueError saying why."""
    if engine not in ("auto", "torch", "compiled"):
        raise ValueError(f"unknown engine {engine!r}: choose 'auto', 'torch' or 'compiled'")
    if engine == "torch":
        return "torch"
    C0 = plane.center[0]
    why = ("it runs on a CPU only" if C0.device.type != "cpu" else
           "it needs branches with exactly one hidden layer" if len(plane.center) != 2 else
           "it needs float32 or float64 weights" if C0.dtype not in (torch.float32, torch.float64) else "")
    if not why:
        from companion.landscapes import plane_kernel

        why = plane_kernel.why_unavailable()
    if why and engine == "compiled":
        raise ValueError(f"engine='compiled' is not possible here: {why}; use engine='auto' or 'torch'")
    return "torch" if why else "compiled"


def evaluate_fast(plane: Plane, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, alphas: np.ndarray,
                  betas: np.ndarray, *, scale: Scale = "sum", max_elements: int | None = None,
                  branch_chunk: int | None = None, example_block: int | None = None,
                  workers: int | None = None, engine: Engine = "auto") -> np.ndarray:
    """Loss on the grid (len(betas), len(alphas)); equal to :func:`evaluate_naive` up to rounding.

    The first layer is linear along the plane: ``W₁(α, β)X = P₀ + αP₁ + βP₂`` with ``Pₖ = W₁ᵏX``. The three
    products (3, I·h, m) are one GEMM per block of ``example_block`` examples (default 1024 on a CPU, all on
    a GPU), per branch chunk of ``branch_chunk`` branches. Every grid point is then evaluated on that block
    from cache, sub-block by sub-block, by one of two engines (:func:`fast_engine`):

    - ``"compiled"`` (CPU, one hidden layer; the default where a C compiler is found): the fused kernel of
      :mod:`companion.landscapes.plane_kernel` forms ``relu(P₀ + αP₁ + βP₂)`` in registers and contracts it with each
      point's last layer at once. A sub-block holds 3·I·h·m' ≤ ``max_elements`` values (default 2¹⁸, 2 MiB of
      f64), copied into tiles of a few examples that stay in cache while every grid point reads them.
    - ``"torch"``: for each grid row (one β) ``Q = P₀ + βP₂`` is formed once, then, g points of the row at a
      time, ``relu(Q + αP₁)`` (g, I·h, m') and the later layers, whose weights at every grid point are formed
      once; ``max_elements`` bounds g·I·h·m' (default 2¹⁸ on a CPU, 2²⁶ on a GPU: it wants large operations).

    On a CPU, ``workers`` threads (default: torch's thread count, but at most one per 2²⁸ multiply-adds of the
    job: on the two-core test machine a 7×7 grid of the synthetic chapter took 6 ms on one thread and 16 ms on
    two, which lose more to waking each other than they share) take example blocks in turn, each running
    torch single-threaded meanwhile (torch's thread count is restored after): each block stays in its core's
    cache, and there is no barrier per small operation (with barriers, a core shared with another process
    stalls both). The loss is applied to the (n, out) outputs of a few points at a time, in the same threads.
    The result is bit-identical from run to run, and for any ``workers`` > 1 given the same example blocks
    (by default they depend on the workers when n < 1024·workers); one worker runs on torch's threads, which
    may round a product differently (1e-7 relative in float32), and matches them bit for bit when torch has
    one thread (keeping torch's threads there is 8% faster on the synthetic chapter's 11×11 benchmark).
    """
    _check_inputs(plane, x, y, alphas, betas, scale, max_elements=max_elements, branch_chunk=branch_chunk,
                  example_block=example_block, workers=workers)
    compiled = fast_engine(plane, engine) == "compiled"
    C0 = plane.center[0][0]                                              # (I, h, d)
    I, h, d = C0.shape
    dev, dt = C0.device, C0.dtype
    n, na, nbeta = x.shape[0], len(alphas), len(betas)
    x = x.to(C0)
    P = na * nbeta                                                       # points in row-major order: β outer
    ga = torch.as_tensor(np.tile(np.asarray(alphas, dtype=np.float64), nbeta), dtype=dt, device=dev)
    gb = torch.as_tensor(np.repeat(np.asarray(betas, dtype=np.float64), na), dtype=dt, device=dev)
    n_out = plane.center[-1].shape[2]
    total = torch.empty(P, n_out, n, dtype=dt, device=dev)            # the first branch chunk writes, later ones add
    bc = branch_chunk or I
    cpu = dev.type == "cpu"
    n_workers = (workers or torch.get_num_threads()) if cpu else 1
    if workers is None:   # by default one worker per 2²⁸ multiply-adds at most
        n_workers = max(1, min(n_workers, n * C0.shape[0] * C0.shape[1] * (3 * d + P * n_out) >> 28))
    max_elements = max_elements or EVAL_BLOCK[dev.type if dev.type in EVAL_BLOCK else "cuda"]
    example_block = min(example_block or (EXAMPLE_BLOCK_CPU if cpu else n), -(-n // n_workers))   # a block for every worker
    with torch.no_grad():
        for i0 in range(0, I, bc):
            sl = slice(i0, min(i0 + bc, I))
            W3 = torch.cat([W[0, sl].reshape(-1, d) for W in (plane.center[0], plane.d1[0], plane.d2[0])])  # (3U, d)
            later = [_point_weights(C[0, sl], A[0, sl], B[0, sl], ga, gb)
                     for C, A, B in zip(plane.center[1:], plane.d1[1:], plane.d2[1:])]      # (P, Ic, o, h) each
            if later:   # the last layer and the sum over branches as one (out, Ic·h) matrix per point
                last = later.pop()
                later.append(last.permute(0, 2, 1, 3).reshape(P, n_out, -1).contiguous())
            run = _compiled_block if compiled else _torch_block
            block = run(W3, later, x, total, ga, gb, alphas, betas, accumulate=i0 > 0,
                        example_block=example_block, max_elements=max_elements)
            _in_workers(block, range(0, n, example_block), n_workers)
            del W3, later, block               # before the next chunk's are formed: one chunk's weights alive
        yd = y.to(dev)
        loss = torch.empty(P, dtype=dt, device=dev)
        step = 4 if cpu else 256

        def apply_loss(p0: int) -> None:
            f = total[p0:p0 + step].transpose(1, 2)
            loss[p0:p0 + step] = loss_fn(f / I if scale == "mean" else f, yd)

        _in_workers(apply_loss, range(0, P, step), n_workers)
    return loss.reshape(nbeta, na).cpu().double().numpy()


def _torch_block(W3: torch.Tensor, later: list[torch.Tensor], x: torch.Tensor, total: torch.Tensor,
                 ga: torch.Tensor, gb: torch.Tensor, alphas: np.ndarray, betas: np.ndarray, *, accumulate: bool,
                 example_block: int, max_elements: int) -> Callable[[int], None]:
    """The torch engine for one branch chunk: a function of a block's first example that adds (or, without
    ``accumulate``, writes) the chunk's outputs at every grid point to ``total`` (P, out, n) for that block.

    W3: (3U, d) first-layer parts; later: each later layer at every grid point, (P, Ic, o, h), the last one
    as (P, out, U) (empty for one-layer branches, whose output is the sum of the branches)."""
    U, n, dev, dt = W3.shape[0] // 3, x.shape[0], W3.device, W3.dtype
    na, nbeta = len(alphas), len(betas)
    *hidden, last = later or [None]
    col = torch.as_tensor(np.asarray(alphas, dtype=np.float64), dtype=dt, device=dev)[:, None, None]
    beta_f = [float(b) for b in betas]
    g = min(na, max(1, max_elements // (U * 64)))                  # points per chunk, split evenly
    g = -(-na // -(-na // g))
    sub = max(1, min(example_block, max_elements // (U * g)))
    sub = sub - sub % 8 if sub > 8 else sub                          # whole vectors

    def block(e0: int) -> None:
        e1 = min(e0 + example_block, n)
        Pb = (W3 @ x[e0:e1].T).view(3, U, e1 - e0)                     # the three products
        Q = torch.empty(U * sub, dtype=dt, device=dev)                 # flat buffers: contiguous views
        Z = torch.empty(g * U * sub, dtype=dt, device=dev)
        for s0 in range(e0, e1, sub):
            s1 = min(s0 + sub, e1)
            m = s1 - s0
            P0, P1, P2 = Pb[..., s0 - e0:s1 - e0].contiguous()          # the sub-block, contiguous
            Qm = Q[:U * m].view(U, m)
            for i in range(nbeta):
                torch.add(P0, P2, alpha=beta_f[i], out=Qm)             # the row's β, once
                for j0 in range(0, na, g):
                    j1 = min(j0 + g, na)
                    p0, p1 = i * na + j0, i * na + j1
                    z = Z[:(j1 - j0) * U * m].view(j1 - j0, U, m)
                    torch.addcmul(Qm, col[j0:j1], P1, out=z)           # (g, U, m)
                    if hidden:
                        z = z.view(j1 - j0, hidden[0].shape[1], -1, m)    # (g, Ic, h, m)
                        for W in hidden:
                            z = torch.matmul(W[p0:p1], torch.relu_(z))     # (g, Ic, o, m)
                    if last is not None:
                        out = torch.bmm(last[p0:p1], torch.relu_(z).reshape(j1 - j0, -1, m))
                    else:
                        out = z.view(j1 - j0, -1, total.shape[1], m).sum(1)   # one layer: the branches' sum
                    if accumulate:
                        total[p0:p1, :, s0:s1] += out
                    else:
                        total[p0:p1, :, s0:s1] = out

    return block


def _compiled_block(W3: torch.Tensor, later: list[torch.Tensor], x: torch.Tensor, total: torch.Tensor,
                    ga: torch.Tensor, gb: torch.Tensor, alphas: np.ndarray, betas: np.ndarray, *,
                    accumulate: bool, example_block: int, max_elements: int) -> Callable[[int], None]:
    """The compiled engine for one branch chunk of one-hidden-layer branches (arguments as
    :func:`_torch_block`, ``later`` = [the last layer (P, out, U)]): each sub-block of the three products is
    copied into tiles (:func:`companion.landscapes.plane_kernel.to_tiles`), and one kernel call evaluates every grid point on it."""
    from companion.landscapes import plane_kernel

    U, n, dt = W3.shape[0] // 3, x.shape[0], W3.dtype
    Lt = later[0].transpose(1, 2).contiguous()                     # (P, U, out): a unit's outputs together
    ab = torch.stack([ga, gb], 1).contiguous()                     # (P, 2)
    tw = plane_kernel.tile_width(dt)
    sub = max(tw, max_elements // (3 * U) // tw * tw)              # examples per sub-block, whole tiles

    def block(e0: int) -> None:
        e1 = min(e0 + example_block, n)
        # the three products: one GEMM per block, or, for few inputs, where moving them costs more than computing
        # them, one per sub-block while it is in cache (d = 10: twice as fast; d = 784: 13% slower)
        Pb = (W3 @ x[e0:e1].T).view(3, U, e1 - e0) if x.shape[1] > 64 else None
        buf = torch.empty(3 * U * min(sub, -(-(e1 - e0) // tw) * tw), dtype=dt)
        for s0 in range(e0, e1, sub):
            s1 = min(s0 + sub, e1)
            Ps = (W3 @ x[s0:s1].T).view(3, U, s1 - s0) if Pb is None else Pb[..., s0 - e0:s1 - e0]
            plane_kernel.relu_contract(plane_kernel.to_tiles(Ps, out=buf), Lt, ab, total[:, :, s0:s1],
                                      accumulate=accumulate)

    return block


def _in_workers(fn: Callable[[int], None], items: Sequence[int], workers: int) -> None:
    """``fn`` on every item: in order (on torch's threads), or, for ``workers`` > 1, in that many threads, each
    running torch single-threaded (torch's thread count is restored after).

    Each worker sets its own count as it starts: MKL's and OpenMP's thread counts are per thread, and a new
    thread otherwise runs its first product on the machine's default (every core, beside the other workers)
    until torch's lazy per-thread set-up catches up. So every item computed by workers is computed
    single-threaded, the same way whichever worker takes it: bit-identical results for any ``workers`` > 1 and
    from run to run. In order, torch's threads may split a product or a reduction and round differently."""
    if workers <= 1 or len(items) <= 1:
        for it in items:
            fn(it)
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(min(workers, len(items)), initializer=torch.set_num_threads, initargs=(1,)) as pool:
            list(pool.map(fn, items))
    finally:
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class Benchmark:
    """Both evaluators timed side by side. ``speedup`` compares time per grid point; ``*_rate`` is grid
    points × examples per second (0 where the counts were not recorded); ``engine``: the fast evaluator's
    engine (:func:`fast_engine`; "" where not recorded)."""

    fast_seconds: float
    naive_seconds: float
    max_rel_diff: float
    fast_points: int = 0
    naive_points: int = 0
    examples: int = 0
    engine: str = ""

    @property
    def speedup(self) -> float:
        if self.fast_points and self.naive_points:
            return (self.naive_seconds / self.naive_points) / (self.fast_seconds / self.fast_points)
        return self.naive_seconds / self.fast_seconds

    @property
    def fast_rate(self) -> float:
        return self.fast_points * self.examples / self.fast_seconds

    @property
    def naive_rate(self) -> float:
        return self.naive_points * self.examples / self.naive_seconds


def benchmark_plane(plane: Plane, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, alphas: np.ndarray,
                    betas: np.ndarray, *, scale: Scale = "sum", naive_points: int | None = None,
                    **fast_kwargs) -> tuple[np.ndarray, Benchmark]:
    """Both evaluators on the same grid: (fast values, timings and their largest relative difference).

    ``naive_points``: time the per-point baseline on only that many grid points (spread along the grid's
    diagonal band; its time per point does not depend on the grid) and compare values there.
    ``fast_kwargs`` go to :func:`evaluate_fast`. The compiled engine is built (once per machine, cached on disk,
    about half a second) before the clock starts: that cost is amortised, not timed.
    """
    engine = fast_engine(plane, fast_kwargs.get("engine", "auto"))
    t0 = time.perf_counter()
    fast = evaluate_fast(plane, x, y, loss_fn, alphas, betas, scale=scale, **fast_kwargs)
    t1 = time.perf_counter()
    P = len(alphas) * len(betas)
    k = P if naive_points is None else max(1, min(int(naive_points), P))
    idx = np.unique(np.linspace(0, P - 1, k).round().astype(int))
    t2 = time.perf_counter()
    naive = np.array([evaluate_naive(plane, x, y, loss_fn, np.asarray(alphas)[[p % len(alphas)]],
                                     np.asarray(betas)[[p // len(alphas)]], scale=scale)[0, 0] for p in idx])
    t3 = time.perf_counter()
    ref = fast.reshape(-1)[idx]
    rel = float(np.max(np.abs(ref - naive) / np.maximum(np.abs(naive), 1e-12)))
    return fast, Benchmark(fast_seconds=t1 - t0, naive_seconds=t3 - t2, max_rel_diff=rel, fast_points=P,
                           naive_points=len(idx), examples=int(x.shape[0]), engine=engine)


BenchCase = Literal["mnist", "cifar", "synthetic"]
# the shapes of the real_landscapes one-hidden rows and of the synthetic chapter: (d, I, h, out, n)
BENCH_SHAPES: dict[str, tuple[int, int, int, int, int]] = {
    "mnist": (784, 100, 8, 10, 10_000), "cifar": (3072, 100, 8, 10, 10_000), "synthetic": (10, 1000, 1, 1, 1000)}


def benchmark_shapes(case: BenchCase, *, G: int = 11, I: int | None = None, n: int | None = None,
                     naive_points: int | None = 3, seed: int = 0, device: Device = "cpu",
                     dtype: torch.dtype = torch.float64, **fast_kwargs) -> Benchmark:
    """:func:`benchmark_plane` at a chapter's shapes with random data and weights, so the throughput can be
    reproduced without the data: the plane through three random networks (f = mean of branches), on the
    G×G grid of :func:`grid_for`; multi-class hinge for 10 outputs, hinge (τ = 1) for one."""
    from companion.training.losses import multiclass_hinge, tau_hinge
    from companion.training.nets import init_branches

    if case not in BENCH_SHAPES:
        raise ValueError(f"unknown case {case!r}: choose one of {list(BENCH_SHAPES)}")
    d, I0, h, out, n0 = BENCH_SHAPES[case]
    I, n = I or I0, n or n0
    layers = init_branches(3, I, (d, h, out), seed=seed, device=device, dtype=dtype, parametrization="mean")
    plane = plane_from_solutions(layers)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64).to(device=layers[0].device, dtype=dtype)
    if out == 1:
        y, loss = torch.sign(torch.randn(n, generator=g, dtype=torch.float64)).to(x), tau_hinge
    else:
        y, loss = torch.randint(0, out, (n,), generator=g).to(x.device), multiclass_hinge
    grid = grid_for(plane, G)
    return benchmark_plane(plane, x, y, loss, grid, grid, scale="mean", naive_points=naive_points, **fast_kwargs)[1]

