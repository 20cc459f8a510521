"""The calibration probes of :mod:`companion.book.plan` beyond its GEMM / bandwidth / small-operation benchmarks:
each times, at a small size, the loop that dominates some chapter, with the chapter's own code, and returns the
seconds per unit of that loop's work (:data:`PROBES`, names the cost functions count in ``Work.probed``).

- ``chapter_start``: seconds of a chapter run with no work, by the runner's own path (jupytext, papermill, a kernel
  started and shut down, a setup cell importing what every chapter imports): the fixed cost of every chapter;
- ``figure``: seconds to draw a two-panel figure and render it as a figure cell is rendered (the inline backend's
  PNG); ``frame`` and ``vertex``: seconds per frame of a pre-drawn slider (``core.slider.figure_data_uri``) and
  per vertex of a filled polygon in a figure or frame (:func:`frame`); each chapter's figures are counted from
  its notebook, its frames and vertices from its parameters (``costs.page``);
- ``cvxpy_start``: seconds of a chapter's first convex program beyond its solve (importing cvxpy, the first
  canonicalisation);
- ``sgd_step`` and ``sgd_step_deep``: seconds per step of ``training.train.train_sgd`` on tiny branch networks of
  two and of three layers: what a step costs beyond its arithmetic (Python, autograd, the update, the rule);
- ``lbfgs_iter``: seconds per iteration of ``torch.optim.LBFGS`` (history 50, strong Wolfe) on a tiny problem:
  the two-loop recursion and the line search's bookkeeping; ``autograd_op``: seconds per operation of a small
  batched autograd graph forward and backward (an objective evaluation's operations in ``costs.lbfgs``);
- ``block_net_step`` and ``block_flop``: Table 1's block call itself (``training.hitting.run_block``: its data,
  lane layout, threads and engine) on 60 seeds of widths 10–21 at two minibatch sizes: seconds per lane·step
  (every lane of every SIMD group) and per FLOP of ``onehidden.matmul_flops`` over the groups' padded units, the
  two parts of Table 1's time (:func:`block`);
- ``minplus_cell``: seconds per cell of ``convexity.tropical.min_plus_convolve`` (Theorem 1's primal DP);
- ``dual_call`` and ``dual_elem``: Theorem 1's dual function, ``Branch.lagrangian_min`` on the chapter's branch at
  two data sizes: seconds per call and per element of its (n + 3) × n branch outputs (:func:`dual_eval`);
- ``sdp_call``, ``sdp_iter``, ``sdp_k3``: Theorem 2's dual SDP by its own ``dual_value`` at two sizes: seconds per
  program beyond SCS's iterations, per SCS iteration and per k³ of its PSD cones per iteration (:func:`sdp_solve`);
- ``primal_layer`` and ``primal_unit``: Theorem 2's primal objective and gradient (``batched_objective``) at two
  sizes: seconds per layer·evaluation and per ``costs.primal_units`` of it (:func:`primal_eval`);
- ``vgg_flop``: seconds per FLOP (``vgg_model.train_flops_per_image``) of a multi-branch VGG-9 training
  step at width 8, 4 branches, batch 32 (convolutions, BatchNorm, ReLU, pooling and SGD together, as Fig 5 trains them);
- ``np_byte``: seconds per byte of a one-thread NumPy float64 pass over 3 × 4 MiB (the host's element-wise rate,
  which the convexity and duality chapters' NumPy work runs at).

Each is the best of a few repeats after a warm-up (the process-starting ones run once). All together ≈ 12–16 s on 2
cores (more when they are busy); the results are cached
with the rest of the calibration.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from typing import Any, Callable

#: The notebook of :func:`chapter_start` (jupytext percent format): a parameters cell and the imports that every
#: chapter's setup cell makes; no work.
_CHAPTER = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
preset = "smoke"

# %%
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

from companion.book.runtime import glue_many, progress, start_chapter
from companion.core.plotting import readable, subplots
'''


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``fn`` over ``repeats`` runs after one warm-up (s)."""
    fn()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def chapter_start() -> float:
    """Seconds of a chapter run with no work in it, by the runner's own path (``execution.execute``: jupytext,
    papermill, a kernel started, the parameters injected, the cells run, the kernel shut down) on :data:`_CHAPTER`:
    what every chapter pays around its own work (one run: the modules' files are in the page cache by then, as
    they are when a chapter starts)."""
    import tempfile
    from pathlib import Path

    import jupytext  # noqa: F401 (imported before the clock starts, as in a process that has run a chapter)
    import papermill  # noqa: F401

    from companion.book.execution import execute

    with tempfile.TemporaryDirectory() as d:
        source = Path(d) / "probe.py"
        source.write_text(_CHAPTER, encoding="utf-8")
        t0 = time.perf_counter()
        error = execute(source, Path(d) / ".probe.partial.ipynb", Path(d), {"preset": "cpu"})
        seconds = time.perf_counter() - t0
    if error:
        raise RuntimeError(f"the probe chapter did not run: {error}")
    return seconds


def _panels(panels: int, vertices: int = 0) -> Any:
    """A figure like a chapter's: ``panels`` panels of the book's size, each with three marked lines of 50 points,
    labels, a legend, and a filled polygon of ``vertices`` vertices (a closed curve, as the Shapley–Folkman
    chapter fills its sets) when ``vertices`` > 0."""
    import numpy as np

    from companion.core.plotting import subplots

    fig, axes = subplots(panels, width=3.6 if panels > 1 else 4.6, height=3.2)
    x = np.linspace(1.0, 50.0, 50)
    for ax in np.atleast_1d(axes):
        for k in range(3):
            ax.plot(x, (k + 1.0) / x + 0.01 * k, "o-", ms=3, label=f"series {k}")
        if vertices:
            t = np.linspace(0.0, 2 * np.pi, vertices)
            r = 1.0 / (np.abs(np.cos(t)) ** 0.5 + np.abs(np.sin(t)) ** 0.5) ** 2
            ax.fill(25 + 20 * r * np.cos(t), 0.5 + 0.4 * r * np.sin(t), alpha=0.85, lw=0)
        ax.set(xlabel="n", ylabel="value", title="probe")
        ax.legend()
    return fig


def figure() -> float:
    """Seconds to draw a two-panel figure (:func:`_panels`) and render it as a chapter's figure cell is rendered
    (the inline backend: ``print_figure`` to PNG at the figure's dpi, ``bbox_inches="tight"``)."""
    import io

    import matplotlib.pyplot as plt

    def run() -> None:
        fig = _panels(2)
        fig.canvas.print_figure(io.BytesIO(), format="png", dpi=fig.dpi, bbox_inches="tight")
        plt.close(fig)

    return best_of(run, 2)


def frame(vertices: int = 40_000) -> dict[str, float]:
    """One frame of a pre-drawn slider (``core.slider.figure_data_uri``: a one-panel figure to a quantised PNG),
    without and with a filled polygon of ``vertices`` vertices: seconds per frame (``frame``) and per vertex
    drawn (``vertex``, in frames and figures alike)."""
    from companion.core.slider import figure_data_uri

    plain = best_of(lambda: figure_data_uri(_panels(1)), 2)
    filled = best_of(lambda: figure_data_uri(_panels(1, vertices)), 1)
    return {"frame": plain, "vertex": max(filled - plain, 0.0) / vertices}


_CVXPY = ("import numpy as np, cvxpy as cp; x = cp.Variable((3, 3), symmetric=True); "
          "cp.Problem(cp.Minimize(cp.trace(x)), [x >> np.eye(3)]).solve(solver='SCS')")


def cvxpy_start() -> float:
    """Seconds that a chapter's first convex program costs beyond its solve: importing cvxpy and its solvers and
    canonicalising a first (3 × 3 semidefinite) program, by ``python -c``, less the same process importing NumPy
    only (one run each)."""
    def run(code: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        return time.perf_counter() - t0

    base = run("import numpy")
    return max(run(_CVXPY) - base, 0.0)


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


def autograd_op(ops: int = 40, repeats: int = 20) -> float:
    """Seconds per operation of a small autograd graph run forward and backward: rounds of a batched product,
    a ReLU, a scaling and an addition on (8, 6, 6) float64 tensors (the chapters' batched restarts of tiny
    networks), ``ops`` operations in all, then the backward: what one operation of an objective evaluation in the
    cost model's count (``costs.lbfgs``'s ``ops_per_eval``) costs, dispatch and autograd together."""
    import torch

    g = torch.Generator().manual_seed(0)
    W = torch.randn(8, 6, 6, dtype=torch.float64, generator=g).requires_grad_()
    X = torch.randn(6, 6, dtype=torch.float64, generator=g)

    def run() -> None:
        for _ in range(repeats):
            W.grad = None
            Z = W
            for _ in range(ops // 4):
                Z = torch.relu(Z @ X) * 0.5 + W
            Z.pow(2).sum().backward()

    return best_of(run, 2) / (repeats * (ops // 4) * 4)




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
          steps: int = 500, repeats: int = 2, rule: str = "cuts") -> dict[str, float]:
    """The chapter's own block call (``training.hitting.run_block`` on a :func:`~companion.training.hitting.block_configs`
    configuration: its data, lane layout, threads and engine) on S seeds of every width in ``widths`` (d = 10,
    rule ``"cuts"``, so every network runs the ``steps`` cap, with a kernel call, a repacking of the lanes and
    the rule's check every 100 steps and a full-data check for an exact zero loss per 500 steps as in the chapter; Table 1's blocks hold 480–6,960 networks of widths 10–21): the block's own training
    seconds (``BlockRun.seconds``, without laying out the data and lanes) per step, the best of ``repeats``, at two
    minibatch sizes, split into a part per lane·step (every lane of every SIMD group, padding lanes too:
    ``block_net_step``) and a part per ``matmul_flops`` FLOP of the groups' padded units (``block_flop``). NaN where the
    kernel does not compile."""
    from companion.training import block as blk
    from companion.training import hitting
    from companion.training.onehidden import matmul_flops

    if not blk.available():
        return dict.fromkeys(("block_net_step", "block_flop"), math.nan)
    import torch

    from companion.book.costs import lane_group_steps

    # what the kernel computes per step: every lane of every SIMD group, at its group's widest width
    lane, unit = lane_group_steps([steps] * (S * len(widths)), [w for w in widths for _ in range(S)],
                                  blk.lanes(torch.float32), steps)
    N, U = float(lane.sum()) / steps, float(unit.sum()) / steps

    def per_step(B: int) -> float:
        (config,) = hitting.block_configs({"probe": (hitting.Protocol(batch_size=B, steps=steps, rule=rule), S)},
                                          widths)
        return min(hitting.run_block(config).seconds for _ in range(repeats)) / steps

    (B1, B2), (t1, t2) = batches, (per_step(batches[0]), per_step(batches[1]))
    F1, F2 = matmul_flops(U, 10, B1), matmul_flops(U, 10, B2)
    flop = max((t2 - t1) / (F2 - F1), 0.1 * t2 / F2)
    return {"block_net_step": max(t1 - F1 * flop, 0.0) / N, "block_flop": flop}


def sdp_solve(sizes: tuple[int, int] = (8, 32)) -> dict[str, float]:
    """Theorem 2's dual SDP by the chapter's own ``deep_linear.dual_value`` (cvxpy + SCS; X = I, Y Gaussian,
    γ = σ_min/2, d_min = ⌈n/2⌉; PSD cones n, 2n and 2n) at two matrix sizes n, at a loose tolerance (eps 1e-3:
    fewer iterations, each the same work as at the chapter's): seconds per program beyond SCS's iterations
    (``sdp_call``: cvxpy's canonicalisation, SCS's setup, at the larger size), per iteration (``sdp_iter``) and
    per k³ of the cones per iteration (``sdp_k3``). After one warm-up solve (cvxpy's first use is
    :func:`cvxpy_start`)."""
    from companion.duality.deep_linear import dual_value, gaussian_instance, sigma_min_nonzero

    def one(n: int) -> tuple[float, float, int]:
        X, Y = gaussian_instance(n, 0)
        r = dual_value(X, Y, 0.5 * sigma_min_nonzero(Y), math.ceil(n / 2), eps=1e-3)
        return r.seconds, r.solve_seconds, max(r.iterations, 1)

    one(sizes[0])
    (_, s1, i1), (T2, s2, i2) = one(sizes[0]), one(sizes[1])
    k1, k2 = 17.0 * sizes[0] ** 3, 17.0 * sizes[1] ** 3
    p1, p2 = s1 / i1, s2 / i2
    k3 = max((p2 - p1) / (k2 - k1), 0.1 * p2 / k2)
    return {"sdp_call": max(T2 - s2, 0.0), "sdp_iter": max(p1 - k3 * k1, 0.0), "sdp_k3": k3}


def primal_eval(sizes: tuple[int, int] = (10, 40), H: int = 3, R: int = 8, evals: int = 10) -> dict[str, float]:
    """Theorem 2's primal objective with its gradient, the chapter's own ``deep_linear.batched_objective``
    forward and backward (float64, X = I, widths (n, ⌈n/2⌉, …, n)) on R restarts of H layers, at two sizes n:
    seconds per layer and evaluation (``primal_layer``: dispatch, autograd) and per ``costs.primal_units`` per layer
    and evaluation (``primal_unit``)."""
    import torch

    from companion.book.costs import primal_units
    from companion.duality.deep_linear import batched_objective

    def per_eval(n: int) -> float:
        k = math.ceil(n / 2)
        g = torch.Generator().manual_seed(0)
        widths = [n] + [k] * (H - 1) + [n]
        Ws = [torch.randn(R, widths[i + 1], widths[i], generator=g, dtype=torch.float64).requires_grad_()
              for i in range(H)]
        X, Y = torch.eye(n, dtype=torch.float64), torch.randn(n, n, generator=g, dtype=torch.float64)

        def run() -> None:
            for _ in range(evals):
                for W in Ws:
                    W.grad = None
                batched_objective(Ws, X, Y, 0.1).sum().backward()

        return best_of(run, 2) / evals

    t1, t2 = per_eval(sizes[0]), per_eval(sizes[1])
    u1, u2 = (primal_units(n, math.ceil(n / 2), R) for n in sizes)
    unit = max((t2 - t1) / (H * (u2 - u1)), 0.1 * t2 / (H * u2))
    return {"primal_layer": max(t1 / H - unit * u1, 0.0), "primal_unit": unit}




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
    parts = {"block": ("block_net_step", "block_flop"), "dual_eval": ("dual_call", "dual_elem"),
             "frame": ("frame", "vertex"), "sdp_solve": ("sdp_call", "sdp_iter", "sdp_k3"),
             "primal_eval": ("primal_layer", "primal_unit")}
    for name in ("chapter_start", "figure", "frame", "cvxpy_start", "sgd_step", "sgd_step_deep", "lbfgs_iter", "autograd_op",
                 "vgg_flop", "np_byte", "block", "minplus_cell", "dual_eval", "sdp_solve", "primal_eval"):
        try:
            got = globals()[name]()
        except Exception:  # noqa: BLE001 – a probe that fails (no compiler, a broken import) must not stop a plan
            got = dict.fromkeys(parts[name], math.nan) if name in parts else math.nan
        out.update(got if isinstance(got, dict) else {name: float(got)})
    return out


#: The probes' names (the keys of :func:`measure_all`), each a unit a cost function may count in ``Work.probed``.
PROBES: tuple[str, ...] = ("chapter_start", "figure", "frame", "vertex", "cvxpy_start", "sgd_step", "sgd_step_deep",
                           "lbfgs_iter", "autograd_op", "block_net_step", "block_flop", "vgg_flop", "np_byte", "minplus_cell",
                           "dual_call", "dual_elem", "sdp_call", "sdp_iter", "sdp_k3", "primal_layer", "primal_unit")
