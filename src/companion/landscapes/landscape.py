"""Loss landscapes on a plane through parameter space, and a non-convexity score.

A plane is ``θ(α, β) = c + α d₁ + β d₂``. The plane through three solutions has centre ``c`` = their
mean and axes ``θ₁ − θ₂`` and ``θ₁ − θ₃``, scaled either to unit norm (``axes="unit"``, ours) or each to
‖θ₃‖ (``axes="authors"``, as the authors' ``fully_connected.py`` does, plotted on
``linspace(−range, range)``); the other option is filter-normalised random directions (Li et al. 2018).
``Plane.unit`` is the length ‖θ₃‖ in plane coordinates, so windows are stated in units of ‖θ₃‖ either way.

Window-independent measures of a triple of solutions (below the evaluators): the Jensen gap at the
centre and the largest barrier along each of the three segments θᵢ → θⱼ; and the range-normalised
score as a *function* of the window radius (:func:`score_vs_window`), never at one window.

Fast evaluation: the first layer's pre-activation is linear along the plane,
``W₁(α, β)X = W₁ᶜX + α D₁X + β D₂X``, so the three products are computed once per block of examples
(and branch chunk), and every grid point is then evaluated on that block while it is in cache; later
layers are formed per grid point in batch. For one hidden layer on a CPU, a compiled kernel
(:mod:`companion.landscapes.plane_kernel`) forms each point's activations in registers and contracts them with its last
layer at once. :func:`evaluate_naive` is the baseline (set the weights, full forward, one grid point at a
time); :func:`benchmark_shapes` times both at the chapters' shapes.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Literal, Sequence

import numpy as np
import torch

from companion.training.losses import LossFn
from companion.training.nets import Layers, Scale, forward

Axes = Literal["unit", "authors"]


#: largest number of entries of one evaluator sub-block, per device type (a GPU wants large operations)
EVAL_BLOCK: dict[str, int] = {"cpu": 2**18, "cuda": 2**26}
#: examples per first-layer product on a CPU (a GPU takes all at once)
EXAMPLE_BLOCK_CPU = 1024
#: entries of one block of a layer when solutions are differenced in bounded blocks
BLOCK_ENTRIES = 2**26


@dataclass(frozen=True)
class Plane:
    center: Layers            # each (1, I, ·, ·)
    d1: Layers
    d2: Layers
    points: np.ndarray        # (k, 2) plane coordinates of the solutions it was built from (k = 0 for random)
    unit: float = 1.0         # ‖θ₃‖ in plane coordinates (1 for random planes): windows are in units of it


def _norm(layers: Iterable[torch.Tensor]) -> torch.Tensor:
    """Euclidean norm of all layers together, as a float64 scalar (per-layer BLAS norms, no temporaries)."""
    return torch.sqrt(sum(torch.linalg.vector_norm(W).double() ** 2 for W in layers))


def plane_from_solutions(layers: Sequence[torch.Tensor], *, axes: Axes = "unit",
                         trainable: Sequence[torch.Tensor] | None = None) -> Plane:
    """The plane through three solutions (``layers`` has S = 3): centre = mean, axes θ₁ − θ₂ and θ₁ − θ₃,
    each scaled to unit norm (``axes="unit"``) or to ‖θ₃‖ (``"authors"``); returns their coordinates too.

    ``trainable``: per-layer 0/1 masks (broadcastable to each layer) of the real parameters; entries
    outside them (a frozen constant unit, see :func:`companion.training.nets.init_default`) are left out of ‖θ₃‖.

    Memory, in single-network tensors (one is 5 GB at I = 50,000 in float32): the plane's centre and two
    axes (3, scaled in place); temporaries: θ₃ masked by ``trainable`` (one layer, only with masks) and a
    solution minus the centre, a block of at most 2²⁶ entries of one layer at a time.
    """
    if layers[0].shape[0] != 3:
        raise ValueError(f"need exactly 3 solutions, got {layers[0].shape[0]}")
    if axes not in ("unit", "authors"):
        raise ValueError(f"unknown axes {axes!r}: choose 'unit' or 'authors'")
    c = [W.mean(0, keepdim=True) for W in layers]
    d1 = [W[0:1] - W[1:2] for W in layers]
    d2 = [W[0:1] - W[2:3] for W in layers]
    n1, n2 = _norm(d1), _norm(d2)
    if float(n1) == 0 or float(n2) == 0:
        raise ValueError("two of the three solutions coincide: the plane is undefined")
    third = (W[2:3] if m is None else W[2:3] * m for W, m in zip(layers, trainable or [None] * len(layers)))
    n3 = float(_norm(third))
    length = n3 if axes == "authors" else 1.0
    for D in d1:
        D.mul_((length / n1).to(D.dtype))
    for D in d2:
        D.mul_((length / n2).to(D.dtype))
    # coordinates of the three solutions: least squares in the (non-orthogonal) basis d1, d2, from the 2×2
    # normal equations, one BLAS dot product per layer (one layer's difference at a time: I can be 50 000)
    dot = lambda a, b: float(torch.dot(a.reshape(-1), b.reshape(-1)))
    gram = np.array([[sum(map(dot, d1, d1)), sum(map(dot, d1, d2))], [sum(map(dot, d2, d1)), sum(map(dot, d2, d2))]])
    pts = []
    for s in range(3):
        r1 = r2 = 0.0
        for W, C, A, B in zip(layers, c, d1, d2):
            for sl in _blocks(W):                                  # one block unless the layer is huge
                v = W[s:s + 1, sl] - C[:, sl]
                r1, r2 = r1 + dot(A[:, sl], v), r2 + dot(B[:, sl], v)
        pts.append(np.linalg.solve(gram, np.array([r1, r2])))
    return Plane(center=c, d1=d1, d2=d2, points=np.array(pts), unit=n3 / length)


def _blocks(W: torch.Tensor, max_elements: int = BLOCK_ENTRIES) -> list[slice]:
    """Branch slices of a layer (S, I, ·, ·) holding at most ``max_elements`` entries per network (one slice
    for any layer up to that size)."""
    per = max(1, W[0, 0].numel())
    step = max(1, max_elements // per)
    return [slice(a, a + step) for a in range(0, W.shape[1], step)]


def random_plane(center: Sequence[torch.Tensor], seed: int, *, filter_normalize: bool = True) -> Plane:
    """Two random Gaussian directions at ``center`` (S = 1); filter-normalised: each row of each branch's
    weight matrix (a 'filter') rescaled to the norm of the same row of the centre."""
    g = torch.Generator().manual_seed(seed)
    dirs = []
    for _ in range(2):
        d = [torch.randn(W.shape, generator=g, dtype=torch.float64).to(W) for W in center]
        if filter_normalize:
            d = [D * (W.norm(dim=-1, keepdim=True) / D.norm(dim=-1, keepdim=True).clamp_min(1e-12)) for D, W in zip(d, center)]
        dirs.append(d)
    return Plane(center=list(center), d1=dirs[0], d2=dirs[1], points=np.zeros((0, 2)))


def plane_point(plane: Plane, alpha: float, beta: float) -> Layers:
    """θ(α, β) as layers with S = 1."""
    return [C + alpha * A + beta * B for C, A, B in zip(plane.center, plane.d1, plane.d2)]


def evaluate_naive(plane: Plane, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, alphas: np.ndarray,
                   betas: np.ndarray, *, scale: Scale = "sum") -> np.ndarray:
    """The baseline: for every grid point set the weights and run the full forward. Returns (len(betas), len(alphas))."""
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
                     naive_points: int | None = 3, seed: int = 0, device: str = "cpu",
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


def grid_for(plane: Plane, G: int, margin: float = 0.5) -> np.ndarray:
    """G coordinates spanning the solutions' coordinates with a margin (symmetric; [−1, 1] for random planes)."""
    r = float(np.abs(plane.points).max()) * (1 + margin) if len(plane.points) else 1.0
    return np.linspace(-r, r, G)


@dataclass(frozen=True)
class Score:
    """Non-convexity of a surface: distance to its lower convex envelope, normalised by the surface's range
    (``max``, ``mean``), and the largest distance in the surface's own units (``gap``)."""

    max: float
    mean: float
    gap: float = 0.0


def lower_envelope_2d(L: np.ndarray, alphas: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """The lower convex envelope of the surface L (nb, na) on the grid, at the grid points (3-D lower hull)."""
    from scipy.spatial import ConvexHull

    ga, gb = np.meshgrid(alphas, betas)
    pts = np.stack([ga.ravel(), gb.ravel(), L.ravel()], 1)
    hull = ConvexHull(pts)
    eq = hull.equations                                   # a·x + b·y + c·z + e = 0, outward normals
    lower = eq[eq[:, 2] < -1e-12]
    # on a lower facet z = −(a x + b y + e)/c; the envelope is the max over these affine minorants
    planes = -(lower[:, 0, None] * pts[None, :, 0] + lower[:, 1, None] * pts[None, :, 1] + lower[:, 3, None]) / lower[:, 2, None]
    return np.minimum(planes.max(0), pts[:, 2]).reshape(L.shape)


def nonconvexity_score(L: np.ndarray, alphas: np.ndarray, betas: np.ndarray) -> Score:
    """max and mean of (L − lower convex envelope of L) / (max L − min L) over the grid, and max of
    L − envelope unnormalised; all 0 for a convex surface.

    The range-normalised score measures shape only: a nearly flat surface with a small bump scores as
    high as a tall barrier. ``gap`` keeps the height, to be divided by a scale fixed by the problem.
    """
    rng = float(L.max() - L.min())
    if rng <= 0:
        return Score(0.0, 0.0, 0.0)
    gap = L - lower_envelope_2d(L, alphas, betas)
    return Score(max=float(gap.max() / rng), mean=float(gap.mean() / rng), gap=float(gap.max()))


# ---- window-independent measures of triples of solutions, and the score as a function of the window ----

PAIRS = ((0, 1), (0, 2), (1, 2))


def losses_of(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *,
              scale: Scale = "sum", max_elements: int = 2**24, branch_chunk: int | None = None) -> torch.Tensor:
    """(S,) loss of each of the S networks in ``layers`` (each (S, I, ·, ·)) on (x, y), in chunks of networks
    of at most ``max_elements`` hidden activations (and of ``branch_chunk`` branches, for huge I)."""
    S, I = layers[0].shape[:2]
    step = max(1, max_elements // max(min(I, branch_chunk or I) * layers[0].shape[2] * x.shape[0], 1))
    with torch.no_grad():
        return torch.cat([loss_fn(forward([W[a:a + step] for W in layers], x, scale=scale, branch_chunk=branch_chunk), y)
                          for a in range(0, S, step)])


def zero_loss(loss_fn: LossFn, y: torch.Tensor, n_out: int, *, dtype: torch.dtype = torch.float32) -> float:
    """The loss of the zero function f ≡ 0 on targets y (n,): the scale gaps and barriers are divided by."""
    return float(loss_fn(torch.zeros(1, y.shape[0], n_out, dtype=dtype, device=y.device), y)[0])


def _triples(layers: Sequence[torch.Tensor]) -> int:
    S = layers[0].shape[0]
    if S % 3:
        raise ValueError(f"need triples of solutions (S a multiple of 3), got S = {S}")
    return S // 3


def jensen_gaps(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *,
                scale: Scale = "sum", solution_losses: torch.Tensor | None = None,
                branch_chunk: int | None = None) -> np.ndarray:
    """(T,) Jensen gap at the centre of each triple: L(mean of θ₃ₜ, θ₃ₜ₊₁, θ₃ₜ₊₂) − mean of their losses.

    ``layers``: (3T, I, ·, ·), triple t = networks 3t, 3t+1, 3t+2. ≤ 0 wherever L is convex on the triangle.
    Divide by :func:`zero_loss` for the normalised gap. ``solution_losses`` (3T,): reuse them if known."""
    T = _triples(layers)
    centres = [W.reshape(T, 3, *W.shape[1:]).mean(1) for W in layers]
    Lc = losses_of(centres, x, y, loss_fn, scale=scale, branch_chunk=branch_chunk)
    Ls = losses_of(layers, x, y, loss_fn, scale=scale, branch_chunk=branch_chunk) if solution_losses is None \
        else solution_losses
    return (Lc - Ls.reshape(T, 3).mean(1)).double().cpu().numpy()


def segment_losses(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn,
                   ts: np.ndarray, *, scale: Scale = "sum", branch_chunk: int | None = None) -> np.ndarray:
    """(T, 3, K) loss at (1 − t)θᵢ + tθⱼ for the pairs (1,2), (1,3), (2,3) of each triple and t in ``ts`` (K,).

    A segment is a degenerate plane (centre θᵢ, axes θⱼ − θᵢ and 0), so :func:`evaluate_fast` computes its
    first-layer products once and evaluates all K points from them."""
    T = _triples(layers)
    out = np.empty((T, 3, len(ts)))
    for t in range(T):
        for k, (i, j) in enumerate(PAIRS):
            a, b = 3 * t + i, 3 * t + j
            seg = Plane(center=[W[a:a + 1] for W in layers], d1=[W[b:b + 1] - W[a:a + 1] for W in layers],
                        d2=[W.new_zeros(()).expand_as(W[a:a + 1]) for W in layers],   # zeros, no memory
                        points=np.zeros((0, 2)))
            out[t, k] = evaluate_fast(seg, x, y, loss_fn, np.asarray(ts, float), np.zeros(1), scale=scale,
                                      branch_chunk=branch_chunk)[0]
            del seg                            # one segment's axis at a time (a network's worth at huge I)
    return out


def segment_barriers(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *,
                     K: int = 21, scale: Scale = "sum", branch_chunk: int | None = None) -> np.ndarray:
    """(T, 3) largest barrier along each segment θᵢ → θⱼ of each triple (mode-connectivity convention):
    max over t ∈ [0, 1] (K evenly spaced points, ends included) of L((1 − t)θᵢ + tθⱼ) − ((1 − t)L(θᵢ) + tL(θⱼ)).
    ≥ 0 (0 at the ends); 0 for a loss convex along the segment."""
    if K < 2:
        raise ValueError(f"need K ≥ 2 points along a segment, got {K}")
    ts = np.linspace(0.0, 1.0, K)
    L = segment_losses(layers, x, y, loss_fn, ts, scale=scale, branch_chunk=branch_chunk)   # (T, 3, K)
    line = (1 - ts) * L[..., :1] + ts * L[..., -1:]
    return np.maximum((L - line).max(-1), 0.0)


def window_grid(plane: Plane, radius: float, G: int) -> np.ndarray:
    """G plane coordinates spanning ±``radius``·‖θ₃‖ (the authors' ``linspace(−range, range)`` for their axes)."""
    if radius <= 0 or G < 2:
        raise ValueError(f"need radius > 0 and G ≥ 2, got {radius}, {G}")
    return np.linspace(-radius * plane.unit, radius * plane.unit, G)


def score_vs_window(plane: Plane, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, radii: Sequence[float], *,
                    G: int, scale: Scale = "sum") -> list[Score]:
    """The range-normalised non-convexity score of the plane's surface on a G×G window of each radius in
    ``radii`` (units of ‖θ₃‖): the score is a function of the window, reported as one."""
    out = []
    for r in radii:
        g = window_grid(plane, r, G)
        out.append(nonconvexity_score(evaluate_fast(plane, x, y, loss_fn, g, g, scale=scale), g, g))
    return out
