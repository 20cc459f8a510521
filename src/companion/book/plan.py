"""`companion plan`: what each chapter will cost before it runs — FLOPs, peak memory and wall time, here and on
a named GPU class, and "will not fit" where the peak exceeds the device's memory.

**The model.** A chapter's cost, from its parameters alone (:data:`COSTS`, one small function per chapter using the
science modules' own counts where they exist), is a list of :class:`Work` stages, each with

- ``flops``: dense matrix products and convolutions (GEMM-like work),
- ``bytes``: memory traffic of element-wise passes and reductions (memory-bound work),
- ``ops``: small operations whose cost is their dispatch, not their size (kernel launches, Python-level steps,
  solver iterations),
- ``assign``: Σ k³ over the k × k optimal assignments (SciPy's Hungarian solver, always on the host),
- ``eig``: Σ k³ over symmetric eigendecompositions (LAPACK; far below the GEMM rate at these sizes),
- ``peak``: the bytes alive during a stage, including what its caller keeps from earlier stages (trained
  weights, a kept plane: added by the chapter's cost function, ``costs.holding``); a chapter's peak is its
  largest stage's, plus :data:`BASE_BYTES`.

A machine is five throughputs (:class:`Machine`): GEMM FLOP/s, memory bandwidth, seconds per small operation,
seconds per k³ of assignment and of eigendecomposition; a calibrated CPU also has the **probes** of
:mod:`companion.book.probes`, each the chapter code's own loop timed at a small size: a chapter's start (a
chapter with no work, run by the runner's own path), a figure, a slider frame and a polygon vertex drawn,
cvxpy's first use, a branch-SGD step, an L-BFGS iteration, the C block trainer's lane·step and FLOP, a VGG-9
training FLOP, a one-thread NumPy byte, Theorem 1's and Theorem 2's solvers. This machine's come from short
calibration runs (:func:`calibrate`, ≈ 12–16 s on 2 cores, cached); a GPU class's from its datasheet
(:data:`GPU_CLASSES`).
Wall time is

    t = t_start + Σ_probes units · t_probe + flops / (η_g · GEMM) + bytes / (η_m · bandwidth) + η_o · ops · t_op
        + assign · t_assign + eig · t_eig,

where a stage's probe units (``Work.probed``) take the place of the part of its flops, bytes and ops that they
time (``Work.replaces``), so nothing is counted twice; without the probes (a GPU class, a probe that could not
run) the fitted terms count everything, as before the probes existed. t_start is the ``chapter_start`` probe
(else ``FIT.t0``, 4 s); drawing the page (its notebook's figure cells, its sliders' frames, counted by
:func:`chapter_stages`) is a stage of every chapter. The *global*
constants η_g, η_m, η_o (:data:`FIT`), how far chapter code is from the micro-benchmarks, were fitted once to
another machine's measured `cpu` times of all chapters together (:data:`MEASURED_CPU_S`, :func:`fit`), never per
chapter, and nothing is fitted on the machine being estimated. ``companion plan`` sets the last build's
measured times beside the estimates. Work bounded by a step budget that a stopping rule may cut short is
estimated at the full budget and marked ``≤`` (an upper bound); where the stopping is known from a recorded run
(Table 1's steps and SIMD lane·steps, ``costs.HITTING_LANE_SHARE``; Theorem 2's SCS and L-BFGS iterations,
``costs.THEOREM2_RECORD``; Appendix L-BFGS shares, ``costs.LBFGS_RECORD``: solver and training dynamics, the same
on every machine) it is counted as recorded.

Every GPU estimate is an extrapolation: no chapter has been timed on one here.
"""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np

from companion.book.probes import PROBES
from companion.book.work import F32, F64, Work  # noqa: F401 (re-exported for the cost functions' users)


@dataclass(frozen=True)
class Machine:
    """Throughputs of one device. ``gemm``/``gemm_tc``: FLOP/s of fp32 / tensor-core products (equal on a CPU);
    ``bandwidth``: bytes/s; ``op``: seconds per small operation; ``assign`` / ``eig``: seconds per k³ of a k × k
    assignment / symmetric eigendecomposition (host); ``memory``: bytes; ``measured``: from calibration runs (else
    a datasheet)."""

    name: str
    gemm: float
    gemm_tc: float
    bandwidth: float
    op: float
    assign: float
    eig: float
    memory: float
    measured: bool
    load: float = float("nan")      # 1-minute load average when calibrated (other processes' share)
    #: seconds per unit of each probe of :mod:`companion.book.probes` (calibrated CPUs only; NaN: it could not run)
    probed: Mapping[str, float] = field(default_factory=dict)

    def has(self, names: Sequence[str]) -> bool:
        """Whether every probe in ``names`` was measured (and finite) on this machine."""
        return all(math.isfinite(self.probed.get(k, math.nan)) for k in names)


@dataclass(frozen=True)
class Fit:
    """The global constants of the time model (module docstring): t₀ seconds and the efficiencies η."""

    t0: float
    eta_gemm: float
    eta_memory: float
    eta_ops: float


#: Wall times (s) of every chapter at ``--preset cpu`` on this project's 2-core machine (2026-11-23: idle reruns
#: after the README's `make book`; theorem2 61–64 s, the mean; shapley_folkman and theorem1 timed for this table
#: with one other process running, load ≈ 1.3; parallel_relu re-timed alone at 14:45 UTC once experiment B landed:
#: 172 s, was 13 s; FIT below predates it).
MEASURED_CPU_S: dict[str, float] = {
    "vgg_branches": 359.0, "landscape_verdict": 241.0, "hitting_rate": 227.0, "real_landscapes": 73.0,
    "theorem2": 62.5, "synthetic_landscape": 22.0, "parallel_relu": 172.0, "parallel_linear": 10.0,
    "theorem1": 28.2, "shapley_folkman": 12.2,
}

#: Fitted by :func:`fit` on :data:`MEASURED_CPU_S` (``companion plan --preset cpu --fit``, 2026-11-23) with this
#: machine calibrated at GEMM 193 GFLOP/s, 42 GB/s, 2.04 µs per small operation: chapter code reaches 0.40 of the
#: GEMM micro-benchmark (small and grouped products), 1.24 of its bandwidth (passes that stay in cache), and a
#: quarter of our count of small operations costs their dispatch. Residuals: ``companion plan --preset cpu``.
FIT = Fit(t0=4.0, eta_gemm=0.404, eta_memory=1.240, eta_ops=0.254)


@dataclass(frozen=True)
class Recorded:
    """A build's measured chapter times (s) at ``preset`` beside the calibration of the machine that ran it,
    probes included: the record ``tests/test_times.py`` holds every estimate to (within 1.5×), without timing
    anything itself."""

    name: str
    commit: str
    preset: str
    machine: Machine
    measured: Mapping[str, float]
    #: chapters whose estimate this record shows more than 1.5× off, with why (the test holds the list exact)
    known_off: Mapping[str, str] = field(default_factory=dict)
    #: torch's thread count in that build (the cost model reads the live one: ``costs.vgg_branches``)
    threads: int = 2


#: Recorded builds (:class:`Recorded`): a build's measured times (its claims files' ``wall_time_s``) with the
#: calibration of its machine taken on that machine when idle (``calibrate(recalibrate=True)``, the cache entry
#: as it is), the same commit. (The 2026-12-02 fresh-clone build at e3b2d9e ran beside other jobs, theorem2 335 s
#: there, 81 s alone an hour earlier, and could not be recorded.) The first record has no landscape chapter; the
#: second is a whole-book build.
RECORDED: list[Recorded] = [
    # chapter by chapter (`companion run NAME --preset cpu`) from a cold cache (a fresh XDG_CACHE_HOME, calibrated at
    # the first chapter, 2026-12-02 05:43:33 UTC, load 1.48 from the runs before), nothing else under the lock
    Recorded(name="2026-12-02 cold-cache cpu runs", commit="c2bed03", preset="cpu",
             machine=Machine(name="this project's machine (cpu, threads 2)", gemm=2.028e+11, gemm_tc=2.028e+11,
                             bandwidth=4.525e+10, op=1.955e-06, assign=1.069e-10, eig=8.091e-10,
                             memory=2.528e+10, measured=True, load=1.48,
                             probed={"chapter_start": 2.958, "figure": 0.1358, "frame": 0.09311,
                                     "vertex": 1.062e-05, "cvxpy_start": 0.9996, "sgd_step": 0.0001514,
                                     "sgd_step_deep": 0.0003785, "lbfgs_iter": 0.0004107, "autograd_op": 7.774e-06,
                                     "block_net_step": 1.315e-07, "block_flop": 4.288e-12, "vgg_flop": 1.815e-11,
                                     "np_byte": 1.08e-11, "minplus_cell": 2.854e-09, "dual_call": 3.169e-05,
                                     "dual_elem": 6.386e-10, "sdp_call": 0.01378, "sdp_iter": 4.545e-05,
                                     "sdp_k3": 1.383e-09, "primal_layer": 0.0001743, "primal_unit": 6.379e-10}),
             measured={'parallel_linear': 12.9, 'shapley_folkman': 34.9, 'theorem1': 34.6, 'theorem2': 58.2,
                       'hitting_rate': 187.6, 'parallel_relu': 141.2, 'vgg_branches': 407.4}),
    # the whole book from a fresh clone (`make book`, cold cache: calibrated at the first chapter, 2026-12-02
    # 06:27:14 UTC, load 1.05, nothing else running) at 983328a; synthetic_landscape run again in the same clone
    # at 76d646e (`companion book --chapters synthetic_landscape`, after its cost model took its recorded steps)
    Recorded(name="2026-12-02 fresh-clone cpu build", commit="983328a", preset="cpu",
             machine=Machine(name="this project's machine (cpu, threads 2)", gemm=1.889e+11, gemm_tc=1.889e+11,
                             bandwidth=4.086e+10, op=2.055e-06, assign=1.169e-10, eig=8.739e-10,
                             memory=2.528e+10, measured=True, load=1.05,
                             probed={"chapter_start": 3.958, "figure": 0.1495, "frame": 0.09365,
                                     "vertex": 1.151e-05, "cvxpy_start": 0.7959, "sgd_step": 0.0001519,
                                     "sgd_step_deep": 0.0004036, "lbfgs_iter": 0.0003171, "autograd_op": 7.297e-06,
                                     "block_net_step": 2.033e-07, "block_flop": 4.008e-12, "vgg_flop": 1.476e-11,
                                     "np_byte": 8.864e-12, "minplus_cell": 2.961e-09, "dual_call": 3.574e-05,
                                     "dual_elem": 6.537e-10, "sdp_call": 0.01422, "sdp_iter": 4.696e-05,
                                     "sdp_k3": 1.439e-09, "primal_layer": 0.0001365, "primal_unit": 8.539e-10}),
             measured={"shapley_folkman": 37.8, "theorem1": 37.8, "theorem2": 60.1, "synthetic_landscape": 18.4,
                       "real_landscapes": 45.4, "landscape_verdict": 467.7, "hitting_rate": 187.1,
                       "vgg_branches": 359.2, "parallel_linear": 12.8, "parallel_relu": 140.6}),
]

#: Datasheet peaks (dense, no sparsity). Sources: NVIDIA H100 Tensor Core GPU datasheet (H100 SXM5 80 GB:
#: 3.35 TB/s, FP32 67 TFLOP/s, TF32 tensor 494.5 dense; H100 PCIe 80 GB: 2.0 TB/s, FP32 51, TF32 378), NVIDIA H200
#: datasheet (141 GB HBM3e, 4.8 TB/s, compute as H100 SXM), NVIDIA A100 datasheet (A100 80 GB SXM: 2.039 TB/s;
#: 40 GB: 1.555 TB/s; FP32 19.5, TF32 156). These are peaks: a GPU estimate uses ATTAINABLE of them (large
#: fp32 GEMMs and STREAM-like copies reach about these fractions), then the same fitted η as the CPU.
GPU_CLASSES: dict[str, dict[str, float | str]] = {
    "h100": {"name": "NVIDIA H100 SXM5 80 GB", "memory": 80e9, "bandwidth": 3.35e12, "fp32": 67e12, "tf32": 494.5e12},
    "h100-pcie": {"name": "NVIDIA H100 PCIe 80 GB", "memory": 80e9, "bandwidth": 2.0e12, "fp32": 51e12, "tf32": 378e12},
    "h200": {"name": "NVIDIA H200 SXM 141 GB", "memory": 141e9, "bandwidth": 4.8e12, "fp32": 67e12, "tf32": 494.5e12},
    "a100": {"name": "NVIDIA A100 SXM 80 GB", "memory": 80e9, "bandwidth": 2.039e12, "fp32": 19.5e12, "tf32": 156e12},
    "a100-40gb": {"name": "NVIDIA A100 40 GB", "memory": 40e9, "bandwidth": 1.555e12, "fp32": 19.5e12, "tf32": 156e12},
}
#: Fractions of a datasheet peak that real kernels attain (our statement, not measured here).
ATTAINABLE = {"gemm": 0.7, "bandwidth": 0.8}
#: Launch latency of one CUDA kernel (s): a small operation on a GPU costs at least this.
GPU_LAUNCH_S = 5e-6
#: Memory a chapter's kernel holds before any array: Python, torch, the notebook machinery (bytes).
BASE_BYTES = 0.6e9


# ---- calibration -------------------------------------------------------------------------------------------

def cache_path() -> Path:
    """``$XDG_CACHE_HOME/companion/calibration.json`` (default ``~/.cache/companion/calibration.json``)."""
    from companion.core.files import cache_dir

    return cache_dir() / "calibration.json"


#: Bumped when the probes change, so that a cache from older probes is measured again.
CALIBRATION_VERSION = 4


def calibration_key(device: str) -> str:
    """What a calibration depends on: host, torch version, torch threads, device and the probes' version."""
    import torch

    return (f"{socket.gethostname()}|{platform.machine()}|torch {torch.__version__}|threads {torch.get_num_threads()}"
            f"|{device}|probes v{CALIBRATION_VERSION}")


def _best_time(fn: Callable[[], Any], repeats: int, sync: Callable[[], None]) -> float:
    """Best wall time of ``fn`` over ``repeats`` runs (after one warm-up)."""
    fn()
    sync()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def host_memory() -> float:
    """Physical memory of this machine (bytes)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 16e9


def measure(device: str = "cpu") -> dict[str, float]:
    """The micro-benchmarks (≈ 1 s): an fp32 1024² GEMM (FLOP/s), an fp32 add over 3 × 96 MiB (bytes/s), a
    tiny in-place add in a loop (s per operation), a 256 × 256 assignment and a 64 × 64 symmetric
    eigendecomposition on the host (s per k³), and the memory; on a CPU also the chapters' own loops
    (:func:`companion.book.probes.measure_all`, ≈ 4–8 s)."""
    from companion.book import probes

    import torch
    from scipy.optimize import linear_sum_assignment

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")     # before we add to it
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    g = torch.Generator().manual_seed(0)
    k = 1024
    a, b = torch.randn(k, k, generator=g).to(dev), torch.randn(k, k, generator=g).to(dev)
    gemm = 2 * k**3 / _best_time(lambda: torch.mm(a, b), 20, sync)
    m = 24 * 2**20
    x, y, z = (torch.ones(m, device=dev) for _ in range(3))
    bandwidth = 3 * F32 * m / _best_time(lambda: torch.add(x, y, out=z), 10, sync)
    t = torch.zeros(16, device=dev)
    n_ops = 5000

    def loop() -> None:
        for _ in range(n_ops):
            t.add_(1.0)

    op = _best_time(loop, 4, sync) / n_ops
    c = np.random.default_rng(0).random((256, 256))
    assign = _best_time(lambda: linear_sum_assignment(c), 5, lambda: None) / 256**3
    s = c[:64, :64] + c[:64, :64].T
    eig = _best_time(lambda: np.linalg.eigh(s), 40, lambda: None) / 64**3
    memory = torch.cuda.get_device_properties(dev).total_memory if dev.type == "cuda" else host_memory()
    out = {"gemm": gemm, "bandwidth": bandwidth, "op": op, "assign": assign, "eig": eig, "memory": float(memory),
           "load": load}
    return {**out, **(probes.measure_all() if dev.type == "cpu" else {})}


def _write_atomic(path: Path, text: str) -> None:
    from companion.book.claims import atomic_write_text

    atomic_write_text(path, text)


def calibrate(device: str = "cpu", *, path: Path | None = None, recalibrate: bool = False) -> Machine:
    """This machine's :class:`Machine` for ``device`` (``cpu`` or ``cuda``): from the cache at ``path`` (default
    :func:`cache_path`) when it holds this :func:`calibration_key`, else measured (:func:`measure`) and added
    to the cache atomically (readers see the old file or the new one, never a part)."""
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r} for calibration: choose 'cpu' or 'cuda'")
    path = path or cache_path()
    key = calibration_key(device)
    try:
        cache = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (json.JSONDecodeError, OSError):
        cache = {}                                   # an unreadable cache is measured again, then replaced
    if recalibrate or key not in cache:
        cache[key] = {**measure(device), "when": time.strftime("%Y-%m-%d %H:%M:%S")}
        _write_atomic(path, json.dumps(cache, indent=2, sort_keys=True) + "\n")
    c = cache[key]
    return Machine(name=f"this machine ({device}, {key.split('|')[3]})", gemm=c["gemm"], gemm_tc=c["gemm"],
                   bandwidth=c["bandwidth"], op=c["op"], assign=c["assign"], eig=c["eig"], memory=c["memory"],
                   measured=True, load=c.get("load", float("nan")),
                   probed={k: float(c[k]) for k in PROBES if k in c})


def gpu_machine(gpu: str, host: Machine) -> Machine:
    """A GPU class from :data:`GPU_CLASSES` (ATTAINABLE fractions of its peaks; a small operation costs the
    host's dispatch time but at least one kernel launch; assignments stay on the host)."""
    if gpu not in GPU_CLASSES:
        raise ValueError(f"unknown GPU class {gpu!r}: choose one of {', '.join(GPU_CLASSES)}")
    s = GPU_CLASSES[gpu]
    return Machine(name=str(s["name"]), gemm=ATTAINABLE["gemm"] * float(s["fp32"]),
                   gemm_tc=ATTAINABLE["gemm"] * float(s["tf32"]), bandwidth=ATTAINABLE["bandwidth"] * float(s["bandwidth"]),
                   op=max(host.op, GPU_LAUNCH_S), assign=host.assign, eig=host.eig, memory=float(s["memory"]),
                   measured=False)


# ---- the time model ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    """One chapter on one machine: seconds by kind, total, peak bytes and whether it fits."""

    seconds: dict[str, float]
    total: float
    peak: float
    fits: bool
    bound: bool             # the largest part is an upper bound (a step budget)

    @property
    def dominant(self) -> str:
        return max(self.seconds, key=self.seconds.get)


def _stage_seconds(w: Work, dev: Machine, host: Machine, fit: Fit) -> dict[str, float]:
    """Seconds of one stage by kind: the fitted terms (gemm, memory, overhead), the solvers, and each probe's
    part where the machine has the stage's probes (the work they time, ``w.replaces``, then leaves the fitted terms)."""
    m = host if w.host else dev
    probed = bool(w.probed) and m.has(list(w.probed))
    left = {k: max(0.0, getattr(w, k) - (w.replaces.get(k, 0.0) if probed else 0.0))
            for k in ("flops", "bytes", "ops", "assign", "eig")}
    rate = m.gemm_tc if w.tensor_cores else m.gemm
    out = {"gemm": left["flops"] / (fit.eta_gemm * rate), "memory": left["bytes"] / (fit.eta_memory * m.bandwidth),
           "overhead": fit.eta_ops * left["ops"] * m.op,
           "solver": left["assign"] * host.assign + left["eig"] * host.eig}
    if probed:
        out.update({k: n * m.probed[k] for k, n in w.probed.items()})
    return out


def start_seconds(host: Machine, fit: Fit = FIT) -> float:
    """The fixed cost of a chapter run: the ``chapter_start`` probe (a chapter with no work, by the runner's own
    path) where this machine has it, else the fitted ``t0``."""
    return host.probed["chapter_start"] if host.has(["chapter_start"]) else fit.t0


def notebook_figures(chapter: str) -> int:
    """The figure cells of ``chapter``'s notebook (code cells with myst-nb ``figure`` metadata, one figure each),
    counted from its jupytext source."""
    from companion.book.chapters import get_chapter

    text = get_chapter(chapter).source.read_text(encoding="utf-8")
    return sum(1 for line in text.splitlines()
               if line.startswith("# %%") and "[markdown]" not in line and 'mystnb={"figure"' in line)


def estimate(stages: Sequence[Work], dev: Machine, host: Machine, fit: Fit = FIT) -> Estimate:
    """Wall time of ``stages`` on ``dev`` (host stages on ``host``), by the model of the module docstring."""
    secs = {"start": start_seconds(host, fit), "gemm": 0.0, "memory": 0.0, "overhead": 0.0, "solver": 0.0}
    bounded = 0.0
    for w in stages:
        s = _stage_seconds(w, dev, host, fit)
        for k, v in s.items():
            secs[k] = secs.get(k, 0.0) + v
        bounded += sum(s.values()) if w.bound else 0.0
    total = sum(secs.values())
    peak = BASE_BYTES + max((w.peak for w in stages), default=0.0)
    return Estimate(seconds=secs, total=total, peak=peak, fits=peak <= dev.memory, bound=bounded > 0.5 * total)


def fit(costs: Mapping[str, Sequence[Work]], measured: Mapping[str, float], machine: Machine, *,
        t0: float = 4.0) -> Fit:
    """The efficiencies η minimising Σ log²(estimate / measured) over the chapters with a measurement, all η > 0
    (optimised as logarithms); ``t0``: the fixed cost of a chapter run, measured (kernel start, imports, one
    figure: 4.0–4.1 s here), not fitted."""
    from scipy.optimize import minimize

    names = [n for n in costs if n in measured and math.isfinite(measured[n])]
    if len(names) < 3:
        raise ValueError(f"need measured times of at least 3 chapters to fit 3 efficiencies, got {names}")
    parts = {n: estimate(costs[n], machine, machine, Fit(0.0, 1.0, 1.0, 1.0)).seconds for n in names}

    def loss(v: np.ndarray) -> float:
        eg, em, eo = np.exp(v)
        est = [t0 + p["gemm"] / eg + p["memory"] / em + p["overhead"] * eo
               + sum(v for k, v in p.items() if k not in ("start", "gemm", "memory", "overhead")) for p in parts.values()]
        return float(sum(np.log(e / measured[n]) ** 2 for e, n in zip(est, names)))

    best = minimize(loss, np.zeros(3), method="Nelder-Mead",
                    options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 20000, "maxfev": 20000})
    eg, em, eo = (float(v) for v in np.exp(best.x))
    return Fit(t0=t0, eta_gemm=eg, eta_memory=em, eta_ops=eo)


# ---- per chapter -------------------------------------------------------------------------------------------

def chapter_stages(chapter: str, parameters: Mapping[str, Any], device: Literal["cpu", "cuda"] = "cpu") -> list[Work]:
    """The :class:`Work` stages of ``chapter`` at ``parameters`` (its resolved preset values) on ``device``: its
    cost function's, then drawing its page (``costs.page``: the figure cells of its notebook, its sliders' frames)."""
    from companion.book.costs import COSTS, page

    if chapter not in COSTS:
        raise ValueError(f"no cost model for chapter {chapter!r}: the models cover {', '.join(COSTS)}")
    return COSTS[chapter](parameters, device) + [page(chapter, parameters, notebook_figures(chapter))]


@dataclass(frozen=True)
class Row:
    """One line of the plan: a chapter at a preset on this machine (None: no such device here) and on a GPU
    class (None: none asked for), with its measured cpu time where there is one."""

    chapter: str
    flops: float
    here: Estimate | None
    gpu: Estimate | None
    measured: float | None

    @property
    def ratio(self) -> float | None:
        """estimate here / measured (cpu preset only)."""
        return self.here.total / self.measured if self.measured and self.here else None


def machines(device: Literal["cpu", "cuda"], gpu: str | None, *, path: Path | None = None,
             recalibrate: bool = False) -> tuple[Machine | None, Machine, Machine | None]:
    """(this machine's ``device``, None where it has no CUDA GPU; this machine's CPU, which runs the host stages;
    the ``gpu`` class, or None)."""
    import torch

    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}: choose 'cpu' or 'cuda'")
    if gpu is not None and gpu not in GPU_CLASSES:
        raise ValueError(f"unknown GPU class {gpu!r}: choose one of {', '.join(GPU_CLASSES)}")
    host = calibrate("cpu", path=path, recalibrate=recalibrate)
    here = host if device == "cpu" else (calibrate("cuda", path=path, recalibrate=recalibrate)
                                         if torch.cuda.is_available() else None)
    return here, host, gpu_machine(gpu, host) if gpu else None


def plan_rows(preset: str, *, device: Literal["cpu", "cuda"] = "cpu", here: Machine | None, host: Machine,
              gpu: Machine | None, fit_: Fit = FIT, chapters: Sequence[str] | None = None,
              measured: Mapping[str, float] | None = None) -> list[Row]:
    """One :class:`Row` per chapter (book order) at ``preset`` (its preset values): on ``here`` running on
    ``device``, and on ``gpu`` running on CUDA (host stages on ``host`` either way). ``measured``: chapter →
    measured seconds to set beside the estimates (``companion plan`` gives the last build's, from its claims
    files); None: :data:`MEASURED_CPU_S` at the cpu preset on a CPU (another machine's)."""
    from companion.book.chapters import chapter_names, get_chapter, resolve_parameters

    rows = []
    for name in chapters or chapter_names():
        params = resolve_parameters(get_chapter(name), preset)
        mine = chapter_stages(name, params, device)
        meas = (measured.get(name) if measured is not None
                else MEASURED_CPU_S.get(name) if preset == "cpu" and device == "cpu" else None)
        rows.append(Row(chapter=name, flops=sum(w.flops for w in mine),
                        here=estimate(mine, here, host, fit_) if here else None,
                        gpu=estimate(chapter_stages(name, params, "cuda"), gpu, host, fit_) if gpu else None,
                        measured=meas if meas is not None and math.isfinite(meas) else None))
    return rows


def human_seconds(s: float) -> str:
    """4.2 s, 35 s, 4.5 min, 2.1 h, 3.0 d."""
    if s >= 2 * 86400:
        return f"{s / 86400:.1f} d"
    if s >= 2 * 3600:
        return f"{s / 3600:.1f} h"
    if s >= 100:
        return f"{s / 60:.1f} min"
    return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"


def _time_cell(e: Estimate) -> str:
    if not e.fits:
        return "will not fit"
    return ("≤ " if e.bound else "") + human_seconds(e.total)


def _aligned(head: Sequence[str], lines: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(head, *lines)]
    fmt = lambda cells: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(cells, widths)))
    return [fmt(head), fmt(["-" * w for w in widths])] + [fmt(c) for c in lines]


def format_table(rows: Sequence[Row], *, preset: str, device: str, here: Machine | None, host: Machine,
                 gpu: str | None, fit_: Fit = FIT) -> str:
    """The plan as a text table, with the throughputs, the model's constants, the residuals against measured
    cpu times (cpu preset) and the caveats."""
    head = ["chapter", "GFLOP", "peak GB", "dominant"]
    head += ["here"] if here else []
    head += [f"{gpu} (extrapolated)", f"peak/{gpu} mem"] if gpu else []
    measured = any(r.measured for r in rows)
    head += ["measured", "est/meas"] if measured else []
    lines = []
    for r in rows:
        main = r.here or r.gpu
        cells = [r.chapter, f"{r.flops / 1e9:,.1f}", f"{main.peak / 1e9:.2f}", main.dominant]
        cells += [_time_cell(r.here)] if here else []
        cells += [_time_cell(r.gpu), f"{r.gpu.peak / float(GPU_CLASSES[gpu]['memory']):.0%}"] if gpu else []
        if measured:
            flag = "" if r.ratio is None or 1 / 1.5 <= r.ratio <= 1.5 else " (>1.5x off)"
            cells += [human_seconds(r.measured) if r.measured else "-",
                      f"{r.ratio:.2f}{flag}" if r.ratio is not None else "-"]
        lines.append(cells)
    out = [f"companion plan --preset {preset} --device {device}" + (f" --gpu {gpu}" if gpu else ""),
           *_aligned(head, lines)]
    if here:
        out.append(f"all chapters here: {human_seconds(sum(r.here.total for r in rows))}"
                   + (f"; on {gpu}: {human_seconds(sum(r.gpu.total for r in rows))}" if gpu else ""))
    elif gpu:
        out.append(f"no CUDA GPU on this machine: only the {gpu} column; all chapters there: "
                   f"{human_seconds(sum(r.gpu.total for r in rows))}")
    if measured:
        logs = [math.log(r.ratio) for r in rows if r.ratio]
        out.append(f"residuals vs measured cpu times: est/meas from {min(map(math.exp, logs)):.2f} to "
                   f"{max(map(math.exp, logs)):.2f}, rms log-ratio {math.sqrt(sum(x * x for x in logs) / len(logs)):.2f}")
    for m in [m for m in (here, host) if m][: 1 if here is host else 2]:
        busy = f", load {m.load:.1f} when calibrated" + (" (busy: redo with --recalibrate when idle)"
                                                        if m.load > 0.5 else "") if math.isfinite(m.load) else ""
        out.append(f"{m.name}: GEMM {m.gemm / 1e9:.1f} GFLOP/s, memory {m.bandwidth / 1e9:.1f} GB/s, "
                   f"{m.op * 1e6:.2f} µs per small op, assignment {m.assign * 1e9:.2f} ns/k³, eigh {m.eig * 1e9:.2f} "
                   f"ns/k³, {m.memory / 2**30:.1f} GiB (calibrated{busy})")
        if m.probed:
            out.append("  probes (s per unit): " + ", ".join(f"{k} {v:.3g}" for k, v in m.probed.items())
                       + f"; a chapter starts in {start_seconds(m, fit_):.1f} s")
    out.append(f"model: t = start + Σ probe units × the probe's time + FLOPs/({fit_.eta_gemm:.2f}·GEMM) + "
               f"bytes/({fit_.eta_memory:.2f}·bandwidth) + {fit_.eta_ops:.2f}·ops·t_op + assignments + eigh, the "
               "probes timing the chapters' own loops and the rest at the three global η fitted on another "
               "machine's cpu times (start: the chapter_start probe, else "
               f"{fit_.t0:.1f} s)")
    out.append("'≤': a step budget that a stopping rule may end early (upper bound); 'will not fit': peak memory "
               "above the device's; dominant: the largest part of the time")
    if gpu:
        sp = GPU_CLASSES[gpu]
        out.append(f"{sp['name']} (datasheet peaks): {float(sp['fp32']) / 1e12:.1f} TFLOP/s fp32, "
                   f"{float(sp['tf32']) / 1e12:.0f} tensor TF32 dense, {float(sp['bandwidth']) / 1e12:.2f} TB/s, "
                   f"{float(sp['memory']) / 1e9:.0f} GB; {ATTAINABLE['gemm']:.0%} / {ATTAINABLE['bandwidth']:.0%} of "
                   "peak taken as attainable; host stages (SciPy, cvxpy, JPEG decoding) at this machine's speed; "
                   "never timed on a GPU: extrapolated")
    return "\n".join(out)


def plan_line(chapter: str, parameters: Mapping[str, Any], device: Literal["cpu", "cuda"] = "cpu", *,
              path: Path | None = None) -> tuple[str, dict[str, Any]]:
    """The line a chapter prints when it starts, ``plan: ~X GFLOP, peak ~Y GB, ~Z s on this machine``, and the
    same numbers as a dict (``gflop``, ``peak_gb``, ``seconds``, ``upper_bound``, ``fits``)."""
    here, host, _ = machines(device, None, path=path)
    stages = chapter_stages(chapter, parameters, device)
    flops = sum(w.flops for w in stages)
    e = estimate(stages, here or host, host)
    where = "on this machine" if here else "on this machine's CPU (no CUDA GPU to calibrate)"
    line = (f"plan: ~{flops / 1e9:,.1f} GFLOP, peak ~{e.peak / 1e9:.2f} GB, {'≤ ' if e.bound else '~'}"
            f"{human_seconds(e.total)} {where}" + ("" if e.fits else " — will not fit in its memory"))
    return line, {"gflop": flops / 1e9, "peak_gb": e.peak / 1e9, "seconds": e.total, "upper_bound": e.bound,
                  "fits": e.fits}
