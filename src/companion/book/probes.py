"""The calibration probes of :mod:`companion.book.plan` beyond its GEMM / bandwidth / small-operation benchmarks:
each times, at a small size, the loop that dominates some chapter, with the chapter's own code, and returns the
seconds per unit of that loop's work (:data:`PROBES`, names the cost functions count in ``Work.probed``).

- ``startup``: seconds to start a Python process and import what every chapter imports (torch, NumPy, pandas,
  Matplotlib with one figure drawn, IPython, the package): the fixed cost of a chapter run, paid twice, once by
  the Jupyter kernel's process and once by the chapter's setup cell (:data:`STARTS_PER_CHAPTER`);
- ``sgd_step`` and ``sgd_step_deep``: seconds per step of ``training.train.train_sgd`` on tiny branch networks of
  two and of three layers: what a step costs beyond its arithmetic (Python, autograd, the update, the rule);
- ``lbfgs_iter``: seconds per iteration of ``torch.optim.LBFGS`` (history 50, strong Wolfe) on a tiny problem:
  the two-loop recursion and the line search's bookkeeping;
- ``block_net_step`` and ``block_flop``: Table 1's block call itself (``training.hitting.run_block``: its data,
  lane layout, threads and engine) on 60 seeds of widths 10–21 at two minibatch sizes: seconds per network and
  step and per FLOP of ``onehidden.matmul_flops``, the two parts of Table 1's time (:func:`block`);
- ``minplus_cell``: seconds per cell of ``convexity.tropical.min_plus_convolve`` (Theorem 1's primal DP);
- ``dual_call`` and ``dual_elem``: Theorem 1's dual function, ``Branch.lagrangian_min`` on the chapter's branch at
  two data sizes: seconds per call and per element of its (n + 3) × n branch outputs (:func:`dual_eval`);
- ``vgg_flop``: seconds per FLOP (``vgg_model.train_flops_per_image``) of a multi-branch VGG-9 training
  step at width 8, 4 branches, batch 32 (convolutions, BatchNorm, ReLU, pooling and SGD together, as Fig 5 trains them);
- ``np_byte``: seconds per byte of a one-thread NumPy float64 pass over 3 × 4 MiB (the host's element-wise rate,
  which the convexity and duality chapters' NumPy work runs at).

Each is the best of a few repeats after a warm-up. All together ≈ 10 s on 2 cores (more when they are busy); the results are cached
with the rest of the calibration.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from typing import Callable

#: Process starts with the common imports that a chapter run pays: the kernel's and the setup cell's.
STARTS_PER_CHAPTER = 2.0

_STARTUP = ("import numpy, pandas, torch, IPython, matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt; "
            "import io, companion.book.runtime; f, a = plt.subplots(); a.plot([0, 1]); f.savefig(io.BytesIO())")


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``fn`` over ``repeats`` runs after one warm-up (s)."""
    fn()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def startup() -> float:
    """Seconds for ``python -c`` to import the chapters' common modules and draw one figure (one run: the
    modules' files are in the page cache by then, as they are when a chapter starts)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", _STARTUP], check=True, capture_output=True)
    return time.perf_counter() - t0


def sgd_step(steps: int = 100, widths: tuple[int, ...] = (10, 2, 1)) -> float:
    """Seconds per step of ``train_sgd`` on 3 networks of 4 branches (layer widths ``widths``), batch 20 of 100
    examples: whatever engine ``train`` picks for such networks."""
    import torch

    from companion.training.losses import tau_hinge
    from companion.training.nets import init_branches
    from companion.training.train import train_sgd

    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 10, generator=g)
    y = torch.sign(torch.randn(100, generator=g))
    layers = init_branches(3, 4, widths, seed=[0, 1, 2])
    run = lambda: train_sgd(layers, x, y, tau_hinge, seeds=[0, 1, 2], steps=steps, lr=0.01,  # noqa: E731
                            batch_size=20, check_every=100, stop_loss=-1.0)
    return best_of(run, 1) / steps


def sgd_step_deep() -> float:
    """:func:`sgd_step` on branches of three layers (10, 2, 2, 1): the per-step cost of deeper branches (Figure 4's
    deep rows), which may take another engine than two-layer ones."""
    return sgd_step(30, widths=(10, 2, 2, 1))


def lbfgs_iter(iters: int = 40) -> float:
    """Seconds per iteration of ``torch.optim.LBFGS`` (history 50, strong Wolfe) on a 64-dimensional
    ill-conditioned quadratic (tolerances off, so every iteration runs)."""
    import torch

    scale = torch.logspace(0, 3, 64, dtype=torch.float64)

    def run() -> None:
        p = torch.ones(64, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([p], lr=1.0, max_iter=iters, history_size=50, line_search_fn="strong_wolfe",
                                tolerance_grad=0.0, tolerance_change=0.0)

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = (scale * (p - 0.5) ** 2).sum() + 0.1 * (p ** 4).sum()
            loss.backward()
            return loss

        opt.step(closure)

    return best_of(run, 1) / iters


def block(S: int = 60, widths: tuple[int, ...] = tuple(range(10, 22)), batches: tuple[int, int] = (10, 100),
          steps: int = 500, repeats: int = 2) -> dict[str, float]:
    """The chapter's own block call (``training.hitting.run_block`` on a :func:`~companion.training.hitting.block_configs`
    configuration: its data, lane layout, threads and engine) on S seeds of every width in ``widths`` (d = 10,
    rule ``"none"``, so every network runs the ``steps`` cap, one full-data check for an exact zero loss per 500
    steps as in the chapter; Table 1's blocks hold 480–6,960 networks of widths 10–21): the block's own training
    seconds (``BlockRun.seconds``, without laying out the data and lanes) per step, the best of ``repeats``, at two
    minibatch sizes, split into a part per network·step (``block_net_step``) and a part per ``matmul_flops`` FLOP
    (``block_flop``). NaN where the kernel does not compile."""
    from companion.training import block as blk
    from companion.training import hitting
    from companion.training.onehidden import matmul_flops

    if not blk.available():
        return dict.fromkeys(("block_net_step", "block_flop"), math.nan)
    N, U = S * len(widths), S * sum(widths)

    def per_step(B: int) -> float:
        (config,) = hitting.block_configs({"probe": (hitting.Protocol(batch_size=B, steps=steps, rule="none"), S)},
                                          widths)
        return min(hitting.run_block(config).seconds for _ in range(repeats)) / steps

    (B1, B2), (t1, t2) = batches, (per_step(batches[0]), per_step(batches[1]))
    F1, F2 = matmul_flops(U, 10, B1), matmul_flops(U, 10, B2)
    flop = max((t2 - t1) / (F2 - F1), 0.1 * t2 / F2)
    return {"block_net_step": max(t1 - F1 * flop, 0.0) / N, "block_flop": flop}


def minplus_cell(M: int = 8_000, N: int = 1_250) -> float:
    """Seconds per cell (output × kernel entry) of the chapter's ``convexity.tropical.min_plus_convolve`` of a
    length-M table with a length-(N + 1) one (Theorem 1's DP: a table of up to I·K/t_step entries against one
    branch's φ on A²/t_step + 1 points)."""
    import torch

    from companion.convexity.tropical import min_plus_convolve

    g = torch.Generator().manual_seed(0)
    G, h = torch.rand(M, dtype=torch.float64, generator=g), torch.rand(N + 1, dtype=torch.float64, generator=g)
    return best_of(lambda: min_plus_convolve(G, h), 3) / ((M + N) * (N + 1))


def dual_eval(sizes: tuple[int, int] = (100, 400), calls: int = 20) -> dict[str, float]:
    """Theorem 1's dual function, one branch at a time as ``separable.dual_and_multiplier`` evaluates it
    (``Branch.lagrangian_min`` at one λ on the chapter's branch type 0 of ``chapter_branches``, data
    ``synthetic_teacher(d=2)``) at two data sizes n: seconds per call (``dual_call``: Python, the kinks, the
    pieces) and per element of the (n + 3) × n branch outputs behind g at the kinks (``dual_elem``)."""
    import numpy as np

    from companion.convexity.separable import chapter_branches
    from companion.core.data import synthetic_teacher

    def per_call(n: int) -> float:
        ds = synthetic_teacher(n=n, d=2, hidden=11, seed=0)
        b = chapter_branches(ds.x.numpy(), ds.y.numpy(), 1.05)[0][0]
        lams = [np.array([0.1 + 0.05 * i]) for i in range(calls)]
        return best_of(lambda: [b.lagrangian_min(lam) for lam in lams], 3) / calls

    (n1, n2) = sizes
    t1, t2 = per_call(n1), per_call(n2)
    e1, e2 = n1 * (n1 + 3), n2 * (n2 + 3)
    elem = max((t2 - t1) / (e2 - e1), 0.1 * t2 / e2)
    return {"dual_call": max(t1 - elem * e1, 0.0), "dual_elem": elem}


def vgg_flop(batch: int = 32, I: int = 4) -> float:
    """Seconds per training FLOP, on one torch thread, of a VGG-9 of I branches at width 8 in the form a CPU
    trains Fig 5's networks in (``training.vgg.device_settings("cpu")``: the branch loop, channels-last), one SGD
    step (momentum) on a batch of ``batch`` images, I branches (Fig 5's grid: 4–32 branches, batch 128; smaller
    shapes run a lower share of the core's peak). Fig 5 runs its grid points ``workers`` side by side, each on
    its share of the threads (one each on 2 cores)."""
    import torch
    import torch.nn.functional as F

    from companion.training.onehidden import intra_op_threads
    from companion.training.vgg import device_settings
    from companion.training.vgg_model import make_networks, train_flops_per_image

    st = device_settings("cpu")
    torch.manual_seed(0)
    model = make_networks(I, 8, [0], form=st.form)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 32, 32)
    x = x.contiguous(memory_format=torch.channels_last) if st.channels_last else x
    y = torch.randint(0, 10, (batch,))

    def run() -> None:
        loss = F.cross_entropy(model(x).float().reshape(-1, 10), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    with intra_op_threads(1):
        return best_of(run, 2) / (batch * train_flops_per_image(8, I))


def np_byte() -> float:
    """Seconds per byte of ``np.add`` over three 4 MiB float64 arrays (one thread)."""
    import numpy as np

    m = 2**19
    a, b, c = np.ones(m), np.ones(m), np.empty(m)
    return best_of(lambda: [np.add(a, b, out=c) for _ in range(20)], 3) / (20 * 3 * 8 * m)


def measure_all() -> dict[str, float]:
    """Every probe of the module docstring: name → seconds per unit; NaN for a probe that could not run (the plan
    then counts that work by its fitted terms)."""
    out: dict[str, float] = {}
    parts = {"block": ("block_net_step", "block_flop"), "dual_eval": ("dual_call", "dual_elem")}
    for name in ("startup", "sgd_step", "sgd_step_deep", "lbfgs_iter", "vgg_flop", "np_byte", "block",
                 "minplus_cell", "dual_eval"):
        try:
            got = globals()[name]()
        except Exception:  # noqa: BLE001 – a probe that fails (no compiler, a broken import) must not stop a plan
            got = dict.fromkeys(parts[name], math.nan) if name in parts else math.nan
        out.update(got if isinstance(got, dict) else {name: float(got)})
    return out


#: The probes' names (the keys of :func:`measure_all`), each a unit a cost function may count in ``Work.probed``.
PROBES: tuple[str, ...] = ("startup", "sgd_step", "sgd_step_deep", "lbfgs_iter", "block_net_step", "block_flop",
                           "vgg_flop", "np_byte", "minplus_cell", "dual_call", "dual_elem")
