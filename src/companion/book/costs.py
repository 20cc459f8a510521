"""What each chapter's work is, from its parameters: the :class:`~companion.book.plan.Work` stages that
:mod:`companion.book.plan` turns into time and memory on a machine.

One function per chapter (:data:`COSTS`), built from a few counts shared by the chapters: SGD on branch
networks (:func:`sgd`), the fast one-hidden-layer trainer (:func:`onehidden`), grid and point evaluations
of planes (:func:`plane_grid`, :func:`points`), activation matching (:func:`align`), L-BFGS runs
(:func:`lbfgs`) and the dual SDP (:func:`sdp`). Parameter counts, MACs and trainer FLOPs come from the
science modules (``nets.n_parameters``, ``vgg_model.grid_flops``, ``onehidden.matmul_flops``). Every count is an
order-of-magnitude model: what it leaves out is said where it is made.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable, Mapping, Sequence

from companion.book.work import F32, F64, Work
from companion.landscapes.evaluate import EVAL_BLOCK, EXAMPLE_BLOCK_CPU
from companion.landscapes.plane import BLOCK_ENTRIES
from companion.landscapes.pipeline import DEEP_ROWS, FIG4_ROWS
from companion.training.branch_block import choose_first_layer
from companion.training.nets import example_chunk_for, n_parameters

#: Small operations of one SGD step on branch networks besides 10 per layer (forward, autograd, update, rule).
SGD_STEP_OPS = 25
#: Small operations of one L-BFGS iteration: the two-loop recursion over a full history of 50 pairs (≈ 5 per
#: pair) plus the strong-Wolfe line search's bookkeeping.
LBFGS_ITER_OPS = 280
#: Function evaluations per L-BFGS iteration (strong-Wolfe line search; about 1.2 once the steps settle).
LBFGS_EVALS = 1.25
#: SCS iterations assumed for one dual SDP at eps = 1e-9 (not known before the solve: 775–2,800 for n = 10–50 here,
#: one instance 15,625).
SCS_ITERS = 2500
#: Host operations for cvxpy to build and canonicalise one small SDP (≈ 0.1 s at a few µs per operation).
CVXPY_OPS = 30_000
#: Host operations to decode one 32 × 32 JPEG (PIL) and convert it.
JPEG_OPS = 12
#: Elementwise passes over the activations in one Adam step of ``relu_train.train_relu_regularized`` (two ReLU
#: layers forward and backward, the loss, Adam's moment updates).
ADAM_PASSES = 40
#: Small operations of one such Adam step (autograd nodes, three parameter updates, the scheduler).
ADAM_STEP_OPS = 120
#: Host operations per variable of one group-lasso program (cvxpy's canonicalisation and Clarabel's
#: factorisations; 80,000-variable programs took about 5 s here).
SOCP_OPS_PER_VARIABLE = 120
#: Examples whose first-layer products the plane evaluator holds at once: on a CPU one block of 1,024 per worker
#: (two workers, this project's machine), on a GPU every example (None).
EVAL_EXAMPLES = {"cpu": 2 * EXAMPLE_BLOCK_CPU, "cuda": None}
# EVAL_BLOCK (the evaluator's sub-block), EXAMPLE_BLOCK_CPU and BLOCK_ENTRIES (the largest temporary of the
# blockwise passes over a plane's layers) are the evaluator's own constants, imported above.


def numpy_pass(work: Work) -> Work:
    """``work`` whose memory traffic is one-thread NumPy on the host: timed by the ``np_byte`` probe where the
    machine has it (the fitted bandwidth term is torch's, on every core)."""
    return replace(work, probed={**work.probed, "np_byte": work.bytes}, replaces={**work.replaces, "bytes": work.bytes})


def holding(work: Work, alive: float) -> Work:
    """``work`` run while its caller keeps ``alive`` more bytes (trained solutions, a kept plane, the data): a
    stage's peak is what is alive during it, since the plan takes the largest stage's peak, not a sum."""
    return replace(work, peak=work.peak + alive)


def hidden_units(I: int, widths: Sequence[int]) -> int:
    """Hidden and output activations of one network of I branches per example."""
    return I * sum(widths[1:])


def sgd(stage: str, *, S: int, I: int, widths: Sequence[int], steps: int, batch: int | None, n: int,
        check_every: int = 100, dtype: int = F32, bound: bool = True, in_place: bool = False,
        branch_chunk: int | None = None, example_chunk: int | None = None) -> Work:
    """``companion.training.train.train`` on S networks of I branches (layer widths ``widths``): per step a forward
    and backward (6 FLOPs per parameter and example; 4 in the first layer, whose input needs no gradient), the
    minibatch gathered, every ``check_every`` steps a full-data forward; ≈ 8 passes over the activations and 8
    over the weights per step.

    Peak (the trainer's memory design): the weights once in place (``in_place``, the caller's tensors are the
    result), else twice (the caller's and the working copy); and either a step's memory: the gradients of one
    chunk of ``branch_chunk`` branches (formed and applied a chunk at a time; no update temporaries), the
    step's graph, which keeps the ReLU outputs of every hidden layer of every chunk until the chunks' backward
    (the pre-activations are freed), one chunk's backward temporaries (two of its widest activations) and the
    gathered minibatch; or, at a check, one chunk's activations of a full-data forward in blocks of
    ``example_chunk`` examples (three alive at once). Plus the training data."""
    P, A, L = n_parameters(I, widths), hidden_units(I, widths), len(widths) - 1
    B = n if batch is None or batch >= n else batch
    checks = steps // check_every + 1
    flops = (6.0 * P - 2.0 * I * widths[0] * widths[1]) * B * S * steps + 2.0 * P * n * S * checks
    traffic = dtype * (S * steps * (8.0 * A * B + 8.0 * P + 2.0 * B * widths[0]) + 2.0 * S * checks * A * n)
    ops = steps * (SGD_STEP_OPS + 10 * L) + checks * (5 * L + 10)
    Ic = min(I, branch_chunk or I)
    h = max(widths[1:-1], default=widths[-1])                   # the widest hidden layer
    step = S * P * Ic / I + S * B * (I * sum(widths[1:-1]) + 2.0 * Ic * h + widths[0])
    check = 3.0 * S * Ic * h * min(n, example_chunk or n)
    peak = dtype * (S * P * (1.0 if in_place else 2.0) + max(step, check) + n * widths[0])
    chunks = math.ceil(I / Ic)
    return Work(stage, flops=flops, bytes=traffic, ops=ops, peak=peak, bound=bound,
                probed={"sgd_step" if L == 2 else "sgd_step_deep": float(steps * chunks)}, replaces={"ops": ops})


def onehidden(stage: str, *, units: int, d: int, batch: int, steps: int, n: int) -> Work:
    """``companion.training.onehidden.train_onehidden`` on ``units`` stacked hidden units for up to ``steps`` steps
    (``matmul_flops`` per step; ≈ 7 passes over the (units × batch) array; ≈ 25 operations per step). The rule
    stops networks early, and stopped ones leave the batch: the budget is an upper bound."""
    from companion.training.onehidden import matmul_flops

    return Work(stage, flops=float(matmul_flops(units, d, batch)) * steps, bytes=7.0 * F32 * units * batch * steps,
                ops=25.0 * steps, peak=F32 * (4.0 * units * batch + 3.0 * units * d + n * d), bound=True)


def plane_grid(stage: str, *, points: int, I: int, widths: Sequence[int], n: int, device: str, planes: int = 1,
               rows: int | None = None, dtype: int = F32, branch_chunk: int | None = None,
               plane_networks: float = 3.0) -> Work:
    """``companion.landscapes.evaluate.evaluate_fast`` on ``planes`` planes of ``points`` points each (``rows`` grid rows,
    default √points) over n examples: the three first-layer products once per plane, the later layers at every
    point, ≈ 4 passes over the (I·h₁ × n) first-layer activations per point, ≈ L + 3 operations per block of
    :data:`EVAL_BLOCK` elements (or per grid row and block of 1024 examples on a CPU). Peak: the plane
    (``plane_networks`` networks' worth: 3 for a plane, 1 for a segment, whose centre is a solution and second
    axis zero), the outputs at every point, and for one chunk of ``branch_chunk`` branches: the first layer's three
    parts side by side, the later layers' weights at every point and the first-layer products
    (:data:`EVAL_EXAMPLES` examples at once)."""
    d, h1, L = widths[0], widths[1], len(widths) - 1
    U, Ic = I * h1, min(I, branch_chunk or I)
    later = n_parameters(I, widths) - U * d
    rows = rows or max(1, int(round(math.sqrt(points))))
    flops = planes * (6.0 * U * d * n + 2.0 * points * n * later)
    blocks = max(rows * (math.ceil(n / EXAMPLE_BLOCK_CPU) if device == "cpu" else 1), points * n * U / EVAL_BLOCK[device])
    m = min(n, EVAL_EXAMPLES[device] or n)
    peak = dtype * (plane_networks * n_parameters(I, widths) + points * n * widths[-1] + points * later * Ic / I
                    + 3.0 * Ic * h1 * (d + m))
    return Work(stage, flops=flops, bytes=planes * 4.0 * dtype * points * n * U, ops=planes * (L + 3) * blocks,
                peak=peak)


def plane_from(stage: str, *, I: int, widths: Sequence[int], dtype: int = F32) -> Work:
    """``companion.landscapes.plane.plane_from_solutions`` on three networks: the centre and two axes (3 networks
    written), their norms and scaling, the Gram matrix and the three solutions' coordinates (blockwise
    differences): ≈ 30 passes over one network's weights; a few operations per layer and block. Peak: the
    plane and one block (:data:`BLOCK_ENTRIES`) of a solution minus the centre."""
    P, L = n_parameters(I, widths), len(widths) - 1
    blocks = sum(math.ceil(I * widths[l] * widths[l + 1] / BLOCK_ENTRIES) for l in range(L))
    return Work(stage, bytes=30.0 * dtype * P, ops=20.0 * L + 12.0 * blocks,
                peak=dtype * (3.0 * P + min(BLOCK_ENTRIES, P)))


def points(stage: str, *, count: int, I: int, widths: Sequence[int], n: int, dtype: int = F32,
           per_op: int = 1, branch_chunk: int | None = None, networks: float = 0.0) -> Work:
    """Full forwards of ``count`` networks (or plane points) of I branches on n examples, batched
    (``landscape.losses_of``: networks at a time up to 2²⁴ activations, branches ``branch_chunk`` at a time);
    ``per_op`` > 1 when each is its own call (the per-point baseline). Peak: one batch's activations, and
    ``networks`` networks' worth of weights the stage forms (the Jensen gap's centre; a per-point network)."""
    P, A, L = n_parameters(I, widths), hidden_units(I, widths), len(widths) - 1
    Ac = A * min(I, branch_chunk or I) / I
    calls = count if per_op > 1 else max(1, count * A * n // 2**24)
    return Work(stage, flops=2.0 * P * n * count, bytes=3.0 * dtype * A * n * count, ops=calls * (3 * L + 4 + per_op),
                peak=dtype * (min(count, max(1, 2**24 // max(int(Ac) * n, 1))) * Ac * n + networks * P))


def align(stage: str, *, pairs: int, I: int, widths: Sequence[int], n_probe: int, fixed: int = 0,
          device: str = "cpu", branch_chunk: int | None = None) -> Work:
    """``companion.landscapes.symmetry.match_to_first`` (then ``relabel_``, in place) for ``pairs`` (network, reference)
    pairs: one hidden layer: all I·h units matched at once (similarity GEMM, one (I·h)² assignment); deeper:
    branches matched in blocks of 1024, then every branch's h units layer by layer, one small assignment (a
    Python-level call) each. ``fixed``: units per branch that stay in place (the bias-carrying unit).

    Peak, deeper branches: the branch descriptors, (I, out·n_probe) in float64 on the host: the reference's,
    and the next network's as it is formed (float32 chunk outputs, their concatenation and its float64 copy:
    16 bytes per entry on the device, then the host); or one chunk (``branch_chunk``, default 4096) of unit
    matching (activations of both networks, their float64 standardised copies, one network's chunk of
    weights). One hidden layer: both networks' activations, their float64 copies, the (I·h)² similarities."""
    P, h = n_parameters(I, widths), widths[1] - fixed
    if len(widths) == 3:
        k = I * h
        return Work(stage, flops=pairs * (4.0 * P * n_probe + 4.0 * k * k * n_probe), assign=pairs * float(k) ** 3,
                    ops=pairs * 20.0, peak=F32 * 3 * k * n_probe + F64 * 4 * k * n_probe + F64 * 3 * k * k, host=False)
    blocks, k = math.ceil(I / 1024), min(I, 1024)
    hidden = len(widths) - 2
    desc = float(I * widths[-1] * n_probe)
    Ic = min(I, branch_chunk or 4096)
    units = F64 * 6.0 * Ic * widths[1] * n_probe + F32 * P * Ic / I
    peak = (max(F64 * desc + F32 * 2 * desc + F64 * desc, F64 * desc + units) if device == "cpu"
            else max(F32 * 2 * desc + F64 * desc, units)) + F64 * 2 * k * widths[-1] * n_probe
    return Work(stage, flops=pairs * (8.0 * P * n_probe + 2.0 * I * widths[-1] * n_probe * k),
                assign=pairs * (blocks * float(k) ** 3 + I * hidden * float(h) ** 3), ops=pairs * I * hidden * 6.0,
                peak=peak)


def lbfgs(stage: str, *, iterations: float, flops_per_eval: float, ops_per_eval: float, params: int,
          eig_per_eval: float = 0.0, peak: float = 0.0, evals_per_iter: float = LBFGS_EVALS,
          bound: bool = True) -> Work:
    """A PyTorch L-BFGS run (history 50, strong Wolfe) of ``iterations`` iterations on ``params`` numbers
    (``eig_per_eval``: Σ k³ of eigendecompositions per evaluation), ``evals_per_iter`` evaluations each;
    tolerances may stop it early (``bound``: the iterations are the budget, an upper bound; False where they are
    a recorded count, :data:`LBFGS_RECORD`). Timed by the ``lbfgs_iter`` probe per iteration and the ``autograd_op``
    probe per operation of the evaluations where the machine has them."""
    evals = evals_per_iter * iterations
    return Work(stage, flops=evals * flops_per_eval, eig=evals * eig_per_eval, bytes=iterations * 200.0 * F64 * params,
                ops=iterations * LBFGS_ITER_OPS + evals * ops_per_eval, peak=peak + 110.0 * F64 * params, bound=bound,
                probed={"lbfgs_iter": float(iterations), "autograd_op": evals * ops_per_eval},
                replaces={"ops": iterations * LBFGS_ITER_OPS + evals * ops_per_eval})


#: L-BFGS work that tolerances cut short, which no machine calibration can give: chapter → (the parameters it
#: depends on, as a tuple of (name, value)) → stage kind → (iterations run ÷ iteration budget, evaluations per
#: iteration run). Counted with ``torch.optim.LBFGS.step`` wrapped to add up each call's ``n_iter`` and
#: ``func_evals`` over a ``companion run … --preset smoke`` and ``cpu`` (2026-12-02); float64 on one machine, the same counts
#: elsewhere up to rounding in the tolerance tests. Parameters not here are estimated at the budget (an upper bound).
LBFGS_RECORD: dict[str, dict[str, dict[str, tuple[float, float]]]] = {
    # the cpu preset: 254 calls of max_iter 200 ran 6,484 iterations (9,777 evaluations) of a 74,400 budget (the
    # augmented Lagrangian stops once every violation is below tol); 3 of max_iter 2,000 ran 189 (225) of 6,000
    "parallel_linear": {
        # the smoke preset: 172 calls of max_iter 150 ran 4,835 (7,480) of 25,200; 2 of 1,500 ran 141 (175) of 3,000
        '{"betas": [0.3, 0.6], "inner": 150, "ms": [1, 2, 3], "outer": 20, "rank_one_ms": [3, 4], "restarts": 4, '
        '"seed": 0, "sigma": [3.0, 2.0, 1.0], "tol": 0.0001, "train_depths": [2, 3]}':
            {"interpolation": (4835 / 25200, 7480 / 4835), "regularised": (141 / 3000, 175 / 141)},
        '{"betas": [0.3, 0.6, 1.5], "inner": 200, "ms": [1, 2, 3, 4], "outer": 30, "rank_one_ms": [3, 4, 6], '
        '"restarts": 8, "seed": 0, "sigma": [3.0, 2.0, 1.0], "tol": 0.0001, "train_depths": [2, 3, 4]}':
            {"interpolation": (6484 / 74400, 9777 / 6484), "regularised": (189 / 6000, 225 / 189)},
    },
}
#: The parameters each chapter's recorded solver counts depend on (the key of :data:`LBFGS_RECORD` and
#: :data:`THEOREM2_RECORD`).
LBFGS_RECORD_KEYS: dict[str, tuple[str, ...]] = {
    "parallel_linear": ("seed", "sigma", "train_depths", "ms", "rank_one_ms", "restarts", "outer", "inner", "betas",
                        "tol"),
    "theorem2": ("seed", "H", "sizes", "width_ratio", "gamma_ratio", "restarts", "steps", "gamma_size", "gamma_ratios",
                 "gamma_dmin_ratios", "depths", "depth_size"),
}


def record_key(chapter: str, p: Mapping[str, Any]) -> str:
    """The :data:`LBFGS_RECORD` key of ``chapter`` at parameters ``p``: its :data:`LBFGS_RECORD_KEYS` values as
    canonical JSON."""
    import json

    return json.dumps({k: p.get(k) for k in LBFGS_RECORD_KEYS[chapter]}, sort_keys=True)


def lbfgs_shares(calls: Sequence[tuple[int, int, int]], budgets: Mapping[str, tuple[int, float]]) -> dict[str, tuple[float, float]]:
    """Recorded counts → :data:`LBFGS_RECORD` entries: ``calls`` (max_iter, iterations run, evaluations) of every
    ``LBFGS.step`` of a run; ``budgets``: stage kind → (the max_iter its calls have, its total iteration budget
    in the cost function). Returns kind → (iterations run ÷ budget, evaluations per iteration run)."""
    out = {}
    for kind, (max_iter, budget) in budgets.items():
        its = sum(c[1] for c in calls if c[0] == max_iter)
        evals = sum(c[2] for c in calls if c[0] == max_iter)
        if budget <= 0 or its <= 0:
            raise ValueError(f"{kind}: need a positive budget and recorded iterations (got {budget}, {its})")
        out[kind] = (its / budget, evals / its)
    return out


def lbfgs_record(chapter: str, p: Mapping[str, Any], kind: str) -> tuple[float, float] | None:
    """The recorded (share of the budget run, evaluations per iteration) of stage kind ``kind`` of ``chapter``
    at parameters ``p``, or None without a record there."""
    rec = LBFGS_RECORD.get(chapter, {}).get(record_key(chapter, p)) if chapter in LBFGS_RECORD_KEYS else None
    return rec.get(kind) if rec else None


def sdp(stage: str, *, cone_sizes: Sequence[int], count: int = 1, iterations: float = SCS_ITERS) -> Work:
    """``count`` small SDPs by cvxpy + SCS on the host: ``iterations`` iterations each (default
    :data:`SCS_ITERS`), each an eigendecomposition of every PSD cone of side k, plus cvxpy's canonicalisation."""
    return Work(stage, eig=count * iterations * sum(float(k) ** 3 for k in cone_sizes), ops=count * CVXPY_OPS,
                host=True, peak=F64 * 50 * sum(k * k for k in cone_sizes))


def jpegs(stage: str, images: int) -> Work:
    """Decoding ``images`` CIFAR-10 JPEGs on the host (absent when the official binary batches are used)."""
    return Work(stage, ops=JPEG_OPS * images, host=True, peak=F32 * 3072 * images)


def cvxpy_first_use() -> Work:
    """A chapter's first convex program beyond its solve: importing cvxpy and its solvers, the first
    canonicalisation (the ``cvxpy_start`` probe; :data:`CVXPY_OPS` host operations without it)."""
    return Work("cvxpy's first use", ops=CVXPY_OPS, host=True, probed={"cvxpy_start": 1.0}, replaces={"ops": CVXPY_OPS})


def _frames(chapter: str, p: Mapping[str, Any]) -> int:
    """Pre-drawn slider frames of ``chapter`` (``core.slider.frame_slider``: one figure drawn and quantised per
    value) at parameters ``p``: the values its notebook passes."""
    from companion.core.slider import counts

    if chapter == "shapley_folkman":
        return len(counts(p["I_max"]))
    if chapter == "theorem1":
        return len(counts(STAIRCASE_I))
    if chapter == "synthetic_landscape":
        return len(p["Is"])
    if chapter == "hitting_rate":
        from companion.training.hitting import Protocol, protocol_rows

        return len(protocol_rows(Protocol(**p["protocol"]), p["S"], p["protocols"], p["ablation"],
                                 S_ablation=p["ablation_S"], fixed=p["fixed"]))
    return 0


def _vertices(chapter: str, p: Mapping[str, Any]) -> float:
    """Vertices of the filled polygons a chapter draws (those large enough to matter): the Shapley–Folkman
    chapter's averages of I copies, 4·I·N + 5 vertices each with its hull's 4N + 5, in Figure 3 (I = 1, 2,
    min(10, I_max) and the hull) and in every frame of its slider."""
    if chapter != "shapley_folkman":
        return 0.0
    from companion.core.slider import counts

    N = p["N"]
    poly = lambda K: 4 * (K + 1) + 1                       # noqa: E731 (profile_polygon of a profile of K + 1 points)
    fig3 = sum(poly(I * N) for I in (1, 2, min(10, p["I_max"]))) + poly(N)
    return float(fig3 + sum(poly(I * N) + poly(N) for I in counts(p["I_max"])))


def page(chapter: str, p: Mapping[str, Any], figures: int) -> Work:
    """Drawing the chapter's page: its ``figures`` figure cells (counted from the notebook), its sliders' frames
    and the vertices of its filled polygons, timed by the ``figure``, ``frame`` and ``vertex`` probes (on the
    host; ≈ 0.3 s per figure or frame as host operations without them)."""
    frames, vertices = _frames(chapter, p), _vertices(chapter, p)
    ops = (figures + frames) * 150_000.0 + 5.0 * vertices
    return Work("page: figures and slider frames", ops=ops, host=True, replaces={"ops": ops},
                probed={"figure": float(figures), "frame": float(frames), "vertex": vertices})


# ---- the chapters ------------------------------------------------------------------------------------------

def shapley_folkman(p: Mapping[str, Any], device: str) -> list[Work]:
    """Max-plus DP for I = 2…I_max on N-point profiles, the Hausdorff distances (n_face points against every
    I·N-point profile) and the sampled check (n_check averages for I = 2, 10): float64, memory-bound."""
    N, I_max, n_face, n_check = p["N"], p["I_max"], p["n_face"], p["n_check"]
    dp = sum(((I - 1) * N + 2 * N + 1) * (N + 1) for I in range(2, I_max + 1))
    haus = sum(n_face * (I * N + 1) for I in range(1, I_max + 1))
    check = sum(n_check * (I * N + 1) for I in (2, 10) if I <= I_max)
    return [Work("max-plus DP", bytes=3.0 * F64 * dp, ops=dp / 2**24 * 4 + I_max * 10, peak=F64 * 2**24 * 2),
            Work("Hausdorff distances", bytes=6.0 * F64 * haus, ops=haus / (512 * N) * 8 + I_max * 30,
                 peak=F64 * 512 * I_max * N * 3),
            Work("sampled check", bytes=6.0 * F64 * check, ops=check / (512 * N) * 8 + n_check * 10 * 2 / 1000,
                 peak=F64 * 512 * 10 * N * 3)]


#: Evaluations of the dual function per bounded Brent search of ``separable.dual_and_multiplier`` (scipy,
#: xatol 1e-12): counted on the chapter's heterogeneous branches at seed 0, 30 searches each: 43.0 at n = 100,
#: 44.8 at n = 500 (the same on every machine: the search's path depends only on the values).
BRENT_EVALS = 45
#: The largest count of the chapter's Minkowski staircase slider (``minkowski_staircase(…, counts(40), …)``) and
#: its t-step floor.
STAIRCASE_I, STAIRCASE_STEP = 40, 0.01


def minplus_cells(U: Sequence[int], I_max: int, keep: Callable[[int], int] | None = None) -> float:
    """Cells (output entries × kernel entries) of the min-plus DP that adds branch (I − 1) % T, with φ tabulated
    on U[t] + 1 points, for I = 2…I_max: the table grows by U[t] per branch, truncated to ``keep(I)`` entries."""
    L, cells = U[0] + 1, 0.0
    for I in range(2, I_max + 1):
        u = U[(I - 1) % len(U)]
        cells += (L + u) * (u + 1.0)
        L = min(L + u, keep(I)) if keep else L + u
    return cells


def theorem1(p: Mapping[str, Any], device: str) -> list[Work]:
    """The exact primal by min-plus DP on the t-grid (the table up to I·K_max/t_step entries, each branch's φ on
    A²/t_step + 1 points, ``separable.BRANCH_TYPES``' A; the identical set and the heterogeneous one), timed by the
    ``minplus_cell`` probe; the duals, one bounded Brent search (:data:`BRENT_EVALS` evaluations, each of
    ``lagrangian_min`` on every active branch type, plus one of g at its kinks for the search's bound) per
    distinct mix of the three types and K, timed by the ``dual_call`` and ``dual_elem`` probes (≈ 6 passes over
    an n × n array per branch evaluation without them); Δ on n_delta_grid points; the brute force over bf_N^I
    parameter tuples for I ≤ bf_I (2 τ × every K, 401 λ); the staircase slider's DP."""
    from companion.convexity.separable import BRANCH_TYPES, branch_counts

    n, t, K_max = p["n"], p["t_step"], max(p["Ks"])
    counts = [branch_counts(3, I) for I in range(1, p["I_max"] + 1)]
    mixes = {tuple(c // max(math.gcd(*cs), 1) for c in cs) for cs in counts}
    active = 1 + sum(sum(1 for c in m if c) for m in mixes)             # branch types in each search: Σ over searches
    evals = active * len(p["Ks"]) * (BRENT_EVALS + 2.0)
    duals = (1 + 3 * len(mixes)) * len(p["Ks"]) * 50
    U = [int(math.floor(A**2 / t + 1e-9)) for A in BRANCH_TYPES["A"]]
    keep = lambda I: int(math.floor(I * K_max / t + 1e-9)) + 1         # noqa: E731
    cells = minplus_cells(U[:1], p["I_max"], keep) + minplus_cells(U, p["I_max"], keep)
    ts = max(t, STAIRCASE_STEP)
    stair = minplus_cells([int(math.floor(BRANCH_TYPES["A"][0] ** 2 / ts + 1e-9))], STAIRCASE_I)
    bf = sum(math.comb(p["bf_N"] + I - 1, I) for I in range(1, p["bf_I"] + 1)) * 2 * len(p["Ks"])

    def dp(stage: str, c: float) -> Work:
        w = Work(stage, bytes=3.0 * F64 * c, ops=p["I_max"] * 20 + c / 2**24 * 4, peak=F64 * 2**24 * 2)
        return replace(w, probed={"minplus_cell": c}, replaces={"bytes": w.bytes, "ops": w.ops})

    dual = Work("duals", bytes=6.0 * F64 * duals * n**2, ops=duals * 20.0)
    return [dp("min-plus DP", cells),
            replace(dual, probed={"dual_call": evals, "dual_elem": evals * (n + 3.0) * n},
                    replaces={"bytes": dual.bytes, "ops": dual.ops}),
            numpy_pass(Work("Δ", bytes=4.0 * F64 * p["n_delta_grid"] * 20 * len(p["Ks"]), ops=4000 * len(p["Ks"]))),
            Work("brute force", bytes=F64 * bf * (3.0 * n + 2 * 401), ops=bf / 4096 * 12,
                 peak=F64 * 4096 * n * 2),
            dp("staircase slider", stair)]


#: Theorem 2's solver work that tolerances end, which no calibration can give: record key (the chapter's
#: :data:`LBFGS_RECORD_KEYS` values) → per instance, in :func:`theorem2`'s order (sizes, γ ratios, γ/σ_dmin ratios,
#: depths, the rectangular X): (SCS iterations of the dual SDP, L-BFGS iterations of the primal, its objective
#: evaluations). Counted at seed 0 over the chapter's own calls (the sweeps as the notebook makes them), from
#: ``DualResult.iterations`` (SCS's ``num_iters``) and ``torch.optim.LBFGS``'s state after each ``step``
#: (``n_iter``, ``func_evals``), 2026-12-02 on this project's machine: SCS's iterations and L-BFGS's path depend
#: only on the numbers (float64; the same elsewhere up to rounding in the tolerance tests). SCS at eps 1e-9 ran
#: from a few hundred to over ten thousand iterations per instance, which no budget bounds usefully; without a
#: record the SDPs count :data:`SCS_ITERS` each and the primal its ``steps`` (an upper bound).
THEOREM2_RECORD: dict[str, list[tuple[int, int, int]]] = {
    # the cpu preset (2026-12-02 05:38 UTC)
    '{"H": 3, "depth_size": 20, "depths": [2, 3, 4, 5], "gamma_dmin_ratios": [1.25, 2.0], "gamma_ratio": 0.5, "ga'
    'mma_ratios": [0.0, 0.25, 0.5, 0.75, 0.95, 1.25, 2.0, 3.0], "gamma_size": 20, "restarts": 8, "seed": 0, "size'
    's": [5, 10, 15, 20, 25, 30, 35, 40, 45, 50], "steps": 1000, "width_ratio": 0.5}': [
        (275, 98, 123), (775, 240, 266), (675, 193, 260), (1025, 167, 185), (975, 386, 483), (2075, 280, 357),
        (975, 173, 206), (1475, 201, 226), (10975, 457, 552), (1575, 274, 313), (1775, 216, 247), (8825, 594, 651),
        (4225, 342, 404), (2075, 290, 413), (1325, 232, 275), (1100, 332, 340), (975, 185, 228), (900, 148, 182),
        (575, 1000, 1247), (275, 1000, 1134), (975, 153, 173), (975, 244, 267), (975, 400, 464), (975, 559, 637),
        (425, 1000, 1029),
    ],
}


def primal_units(n: int, k: int, restarts: int) -> float:
    """The size of one layer of Theorem 2's primal objective for the cost model: restarts · (n²k + k³), the
    products with the n × n data and the k × k Gram matrices' eigendecompositions."""
    return float(restarts) * (n * n * k + k**3)


def theorem2_instances(p: Mapping[str, Any]) -> list[tuple[int, int, tuple[int, int, int], tuple[int, int, int]]]:
    """Every instance of the chapter in its order (Fig 6 sizes, γ sweeps against σ_min and σ_dmin, depths, the
    rectangular X): (data size n, depth H, the PSD cones' sides of its dual SDP, (n, k, R) of its primal layers)."""
    def width(n: int) -> int:
        return max(1, math.ceil(p["width_ratio"] * n))

    sq = [(n, p["H"]) for n in p["sizes"]]
    sq += [(p["gamma_size"], p["H"])] * (len(p["gamma_ratios"]) + len(p.get("gamma_dmin_ratios", [])))
    sq += [(p["depth_size"], H) for H in p["depths"]]
    out = [(n, H, (n, 2 * n, 2 * n), (n, width(n), p["restarts"])) for n, H in sq]
    # X 12 × 30 of rank 8, Y 6 × 30, widths (12, 4, 5, 6): Λ = M Qᵀ with M 6 × 8, cones 6, 14 and 14
    return out + [(12, 3, (6, 14, 14), (12, 5, p["restarts"]))]


def theorem2(p: Mapping[str, Any], device: str) -> list[Work]:
    """Every instance (:func:`theorem2_instances`): the dual SDP, then L-BFGS on ``restarts`` batched restarts (per
    evaluation: the H products forward and backward, the Gram matrices, their eigenvalues and, for the backward,
    eigenvectors; ≈ 15 operations per layer and one per eigendecomposition). SCS's iterations and L-BFGS's
    iterations and evaluations as recorded (:data:`THEOREM2_RECORD`), else the budgets; the SDPs timed by the
    ``sdp_*`` probes, the evaluations by the ``primal_*`` probes (the chapter's own objective), the L-BFGS
    bookkeeping by ``lbfgs_iter``; cvxpy's first use once (``cvxpy_start``)."""
    rec = THEOREM2_RECORD.get(record_key("theorem2", p))
    inst = theorem2_instances(p)
    if rec is not None and len(rec) != len(inst):
        raise ValueError(f"THEOREM2_RECORD has {len(rec)} instances, the parameters {len(inst)}")
    out = [cvxpy_first_use()]
    for i, (n, H, cones, (m, k, R)) in enumerate(inst):
        scs, its, evals = rec[i] if rec is not None else (SCS_ITERS, p["steps"], LBFGS_EVALS * p["steps"])
        d = sdp(f"dual SDP n={n}", cone_sizes=cones, iterations=scs)
        k3 = sum(float(c) ** 3 for c in cones)
        out.append(replace(d, probed={"sdp_call": 1.0, "sdp_iter": float(scs), "sdp_k3": scs * k3},
                           replaces={"eig": d.eig, "ops": d.ops}, bound=rec is None))
        flops = R * H * 8.0 * m * m * k
        w = lbfgs(f"primal n={n}, H={H}", iterations=float(its), evals_per_iter=evals / max(its, 1),
                  flops_per_eval=flops, eig_per_eval=2.0 * R * H * k**3, ops_per_eval=15.0 * H + 20 + 2 * R * H,
                  params=R * (2 * m * k + (H - 2) * k * k), bound=rec is None)
        out.append(replace(w, probed={"lbfgs_iter": w.probed["lbfgs_iter"], "primal_layer": evals * H,
                                      "primal_unit": evals * H * primal_units(m, k, R)},
                           replaces={"ops": w.ops, "flops": w.flops, "eig": w.eig}))
    return out


def _branch_panel(stage: str, *, I: int, widths: Sequence[int], steps: int, batch: int | None, n: int, n_eval: int,
                  G: int, views: int, n_probe: int, device: str, K: int = 21, S: int = 3,
                  branch_chunk: int | None = None, keep_plane: bool = False) -> list[Work]:
    """``landscape_pipeline.landscape_panel``: train three networks (one batch, in place) and measure their plane
    in ``views`` views (aligned: the second). Every stage after training holds the solutions and the data;
    the Jensen gap and the segments also hold the main view's plane when it is kept for the benchmark
    (``keep_plane``), else each plane is dropped after its surface."""
    chunk = dict(branch_chunk=branch_chunk)
    P = n_parameters(I, widths)
    sols = F32 * (S * P + n * widths[0])
    out = [sgd(f"{stage}: train", S=S, I=I, widths=widths, steps=steps, batch=batch, n=n, in_place=True,
               example_chunk=example_chunk_for(S, I, widths, branch_chunk), **chunk)]
    for v in range(views):
        if v:
            out.append(holding(align(f"{stage}: align", pairs=2, I=I, widths=widths, n_probe=n_probe, device=device,
                                     **chunk), sols))
        kept = 3.0 * F32 * P if keep_plane and v == 0 else 0.0
        out.append(holding(plane_from(f"{stage}: plane", I=I, widths=widths), sols))
        out.append(holding(plane_grid(f"{stage}: grid", points=G * G, I=I, widths=widths, n=n_eval, device=device,
                                      **chunk), sols))
        out.append(holding(plane_grid(f"{stage}: segments", points=K, rows=1, I=I, widths=widths, n=n_eval, planes=3,
                                      device=device, plane_networks=1.0, **chunk), sols + kept))
        out.append(holding(points(f"{stage}: Jensen", count=4, I=I, widths=widths, n=n_eval, networks=1.0, **chunk),
                           sols + kept))
    return out


#: synthetic_landscape's training dynamics (as :data:`FIG4_STEP_SHARE`): I → (step cap, n, the loop's share of the
#: cap — the most steps any of its 3 networks took ÷ the cap —, the network·steps' share — Σ steps taken ÷ (3 × cap)),
#: before its rule (a zero training loss) or the cap stops them; see :func:`at_shares`. Recorded at seed 0 from the
#: fresh-clone ``--preset cpu`` build of 2026-12-02 06:33 UTC (steps [4000 4000 4000], [4000 1900 4000],
#: [1500 4000 1500], [4000 1500 1400] at I = 10, 30, 70, 1000; full batch and a fixed seed: the same on a rerun).
#: A width not here, or at another cap or n, is estimated at its cap, an upper bound.
FIG1_STEP_SHARE: dict[int, tuple[int, int, float, float]] = {
    10: (4000, 1000, 1.0, 1.0), 30: (4000, 1000, 1.0, 0.825), 70: (4000, 1000, 1.0, 0.5833),
    1000: (4000, 1000, 1.0, 0.575),
}


def fig1_step_share(I: int, p: Mapping[str, Any]) -> tuple[float, float] | None:
    """The recorded (loop, network·step) shares of the step cap that synthetic_landscape's panel at width I runs
    under the parameters ``p`` (:data:`FIG1_STEP_SHARE`), or None when there is no record at its cap and n."""
    rec = FIG1_STEP_SHARE.get(int(I))
    return (rec[2], rec[3]) if rec is not None and rec[:2] == (p["steps"], p["n"]) else None


def at_shares(w: Work, share: tuple[float, float]) -> Work:
    """A training stage ``w`` priced at its cap, at the recorded shares ``share`` = (loop, work) of the cap: the
    trainer loops until its last network stops, so the per-step overhead (its probe and small operations) follows
    the loop's share, and the arithmetic (FLOPs, bytes) the network·steps' share. No longer a bound."""
    loop, work = share
    return replace(w, flops=w.flops * work, bytes=w.bytes * work, ops=w.ops * loop, bound=False,
                   probed={k: v * loop for k, v in w.probed.items()},
                   replaces={k: v * loop for k, v in w.replaces.items()})


def synthetic_landscape(p: Mapping[str, Any], device: str) -> list[Work]:
    """Per I: three networks (10, 1, 1) trained full-batch for the recorded steps (:func:`fig1_step_share`,
    :func:`at_shares`; else ``steps``, an upper bound); the G×G plane, segments and Jensen gap; the float64 benchmark (per-point baseline
    and fast evaluator on bench_G²); the 6× wider window."""
    w, n, out = (10, 1, 1), p["n"], []
    for I in p["Is"]:
        share = fig1_step_share(I, p)
        panel = _branch_panel(f"I={I}", I=I, widths=w, steps=p["steps"], batch=None, n=n, n_eval=n, G=p["G"], views=1,
                              n_probe=n, device=device)
        out += [panel[0] if share is None else at_shares(panel[0], share), *panel[1:]]
        out.append(points(f"I={I}: bench per point", count=p["bench_G"] ** 2, I=I, widths=w, n=n, dtype=F64, per_op=8))
        out.append(plane_grid(f"I={I}: bench fast", points=p["bench_G"] ** 2, I=I, widths=w, n=n, dtype=F64,
                              device=device))
        out.append(plane_grid(f"I={I}: wide window", points=p["G"] ** 2, I=I, widths=w, n=n, device=device))
    return out




#: real_landscapes' training dynamics, which no machine calibration can give: (row, I) → (step cap, n_train, batch
#: size, the loop's share of the cap — the most steps any of its 3 networks took ÷ the cap —, the network·steps'
#: share — Σ steps taken ÷ (3 networks × cap)) before the rule (a zero training loss) or the cap stops them; see
#: :func:`at_shares`. Recorded at seed 0 from ``companion run real_landscapes --preset cpu`` (2026-12-02 06:00 UTC;
#: loop shares from the fresh-clone build's steps at 06:33 UTC, the same steps: the rule and the batches are
#: deterministic). A panel not here, or at another cap, n_train or batch size, is estimated at its cap, an upper bound.
FIG4_STEP_SHARE: dict[tuple[str, int], tuple[int, int, int, float, float]] = {
    ("mnist", 1): (3000, 500, 128, 1.0, 1.0), ("mnist", 3): (3000, 500, 128, 1.0, 0.8222),
    ("mnist", 5): (3000, 500, 128, 0.5, 0.4444), ("mnist", 100): (3000, 500, 128, 0.3667, 0.3222),
    ("cifar", 1): (3000, 500, 128, 1.0, 1.0), ("cifar", 3): (3000, 500, 128, 1.0, 0.5222),
    ("cifar", 5): (3000, 500, 128, 0.4, 0.2778), ("cifar", 100): (3000, 500, 128, 0.1667, 0.1556),
    ("cifar_deep", 1): (3000, 500, 128, 1.0, 1.0), ("cifar_deep", 3): (3000, 500, 128, 0.9333, 0.7778),
    ("cifar_deep", 5): (3000, 500, 128, 0.6667, 0.4889), ("cifar_deep", 100): (3000, 500, 128, 0.1333, 0.1111),
}


def fig4_step_share(key: str, I: int, p: Mapping[str, Any]) -> tuple[float, float] | None:
    """The recorded (loop, network·step) shares of the step cap that the panel (``key``, ``I``) of real_landscapes
    runs under the parameters ``p`` (:data:`FIG4_STEP_SHARE`), or None when there is no record at its cap, n_train
    and batch."""
    rec = FIG4_STEP_SHARE.get((key, int(I)))
    return (rec[3], rec[4]) if rec is not None and rec[:3] == (p["steps"], p["n_train"], p["batch_size"]) else None


def block_dual(work: Work, *, S: int, I: int, widths: Sequence[int], steps: int, batch: int, n: int) -> Work:
    """``work`` (an :func:`sgd` stage of one-hidden-layer networks) as ``companion.training.branch_block`` runs it on
    the dual first layer (taken when ``choose_first_layer`` says so: n ≤ 1.5·d): per step the (S, I·h, n)
    pre-activations D are read at the batch's columns and updated by one GEMM with the Gram matrix (2·B·I·h·n
    FLOPs), the second layer forward and backward (6·B·I·h·out), D read and written once; the checks' losses come
    from D; once D = W Xᵀ, K = X Xᵀ and, at the end, W = α·W₀ + C X."""
    d, h, out = widths
    U, B = I * h, min(batch, n)
    flops = S * steps * B * U * (2.0 * n + 6.0 * out) + 4.0 * S * U * d * n + 2.0 * n * n * d
    traffic = F32 * S * steps * (2.0 * U * n + 6.0 * U * B)
    return replace(work, flops=flops, bytes=traffic)


def real_landscapes(p: Mapping[str, Any], device: str) -> list[Work]:
    """Per Figure 4 row and I: :func:`_branch_panel` on n_train examples (minibatches) for the recorded steps
    (:func:`fig4_step_share`, :func:`at_shares`; else the cap, an upper bound), both views on n_eval, test accuracy on n_test, and
    the float64 benchmark (on bench_branches branches) at the row's widest I; the data (CIFAR-10 JPEGs decoded)."""
    out: list[Work] = []
    if {"cifar", "cifar_deep"} & set(p["rows"]):
        out.append(jpegs("CIFAR-10", p["n_train"] + p["n_test"]))
    for key in p["rows"]:
        w = FIG4_ROWS[key][1]
        Is = p["Is_deep"] if key == "cifar_deep" else p["Is_shallow"]
        for I in Is:
            sols = F32 * (3 * n_parameters(I, w) + p["n_train"] * w[0])
            share, steps = fig4_step_share(key, I, p), p["steps"]
            panel = _branch_panel(f"{key} I={I}", I=I, widths=w, steps=steps, batch=p["batch_size"],
                                  n=p["n_train"], n_eval=p["n_eval"], G=p["G"], views=2, n_probe=p["n_probe"],
                                  device=device, branch_chunk=p["branch_chunk"], keep_plane=bool(p["bench_G"]) and I == Is[-1])
            train = panel[0]
            if len(w) == 3 and p["branch_chunk"] is None and choose_first_layer("auto", n=p["n_train"], d=w[0]) == "dual":
                train = block_dual(train, S=3, I=I, widths=w, steps=steps, batch=p["batch_size"], n=p["n_train"])
            out += [train if share is None else at_shares(train, share), *panel[1:]]
            out.append(holding(points(f"{key} I={I}: test accuracy", count=3, I=I, widths=w, n=p["n_test"],
                                      branch_chunk=p["branch_chunk"]), sols))
        k = min(p["bench_branches"] or Is[-1], Is[-1])
        if p["bench_G"]:         # on the widest I's main plane (kept until then) and its solutions
            kept = F32 * (6 * n_parameters(Is[-1], w) + p["n_train"] * w[0])
            out.append(holding(points(f"{key}: bench per point", count=p["bench_G"] ** 2, I=k, widths=w, n=p["n_eval"],
                                      dtype=F64, per_op=8, networks=6.0), kept))
            out.append(holding(plane_grid(f"{key}: bench fast", points=p["bench_G"] ** 2, I=k, widths=w, n=p["n_eval"],
                                          dtype=F64, device=device), kept))
    return out


#: The verdict sweep's training dynamics, which no machine calibration can give: per (row, I, batch — its settings'
#: slugs joined by "+", :func:`companion.landscapes.verdict.blocks`), (the batch's step cap, the share of it that
#: its loop ran — the most steps any of its networks took ÷ the cap —, the share of its network·steps — Σ steps
#: taken ÷ (networks × cap))). The loop's steps are what a step's overhead follows (paid once a step however many
#: networks still train: the tiny synthetic networks' time), the network·steps what the arithmetic follows. Recorded at
#: seed 0 from the runs tables (``landscape_verdict.runs_*.csv``) of a ``companion run landscape_verdict --preset cpu``
#: (branch fixedrate, 2026-12-02 06:08 UTC; 438 s there); the runs take the same steps on every machine with the
#: same thread count. A batch not here, or at another cap, is estimated at its cap, an
#: upper bound. An estimate of work, never a claim.
VERDICT_STEP_SHARE: dict[tuple[str, int, str], tuple[int, float, float]] = {
    ("cifar", 1, "authors_wd0_fixed"): (4_000, 1.0000, 0.9926),
    ("cifar", 1, "ours"): (4_000, 1.0000, 1.0000),
    ("cifar", 3, "authors_wd0_fixed"): (4_000, 0.6252, 0.5593),
    ("cifar", 3, "ours"): (4_000, 1.0000, 0.4517),
    ("cifar", 10, "authors_wd0_fixed"): (4_000, 1.0000, 0.9927),
    ("cifar", 10, "ours"): (4_000, 0.1750, 0.1400),
    ("cifar", 30, "authors_wd0_fixed"): (4_000, 1.0000, 1.0000),
    ("cifar", 30, "ours"): (4_000, 0.1500, 0.1183),
    ("cifar_deep", 1, "authors_wd0_fixed"): (4_000, 1.0000, 0.9953),
    ("cifar_deep", 1, "ours"): (4_000, 1.0000, 1.0000),
    ("cifar_deep", 3, "authors_wd0_fixed"): (4_000, 1.0000, 0.8477),
    ("cifar_deep", 3, "ours"): (4_000, 1.0000, 0.8683),
    ("cifar_deep", 10, "authors_wd0_fixed"): (4_000, 1.0000, 1.0000),
    ("cifar_deep", 10, "ours"): (4_000, 1.0000, 0.2400),
    ("mnist", 1, "authors_wd0_fixed"): (4_000, 0.5942, 0.4634),
    ("mnist", 1, "ours"): (4_000, 1.0000, 1.0000),
    ("mnist", 3, "authors_wd0_fixed"): (4_000, 0.6630, 0.5766),
    ("mnist", 3, "ours"): (4_000, 1.0000, 0.6100),
    ("mnist", 10, "authors_wd0_fixed"): (4_000, 1.0000, 1.0000),
    ("mnist", 10, "ours"): (4_000, 0.4250, 0.3033),
    ("mnist", 30, "authors_wd0_fixed"): (4_000, 1.0000, 1.0000),
    ("mnist", 30, "ours"): (4_000, 0.2750, 0.2467),
    ("synthetic", 1, "authors_wd0_fixed+authors_wd0_timesI"): (5_000, 1.0000, 0.8280),
    ("synthetic", 1, "ours"): (3_000, 1.0000, 1.0000),
    ("synthetic", 3, "authors_wd0_fixed"): (12_000, 1.0000, 0.9428),
    ("synthetic", 3, "authors_wd0_timesI"): (5_000, 1.0000, 0.8707),
    ("synthetic", 3, "ours"): (3_000, 1.0000, 1.0000),
    ("synthetic", 10, "authors_wd0_fixed"): (40_000, 1.0000, 0.9463),
    ("synthetic", 10, "authors_wd0_timesI"): (5_000, 1.0000, 0.8866),
    ("synthetic", 10, "ours"): (3_000, 1.0000, 1.0000),
    ("synthetic", 30, "authors_wd0_fixed"): (120_000, 0.5700, 0.4893),
    ("synthetic", 30, "authors_wd0_timesI"): (5_000, 1.0000, 0.6630),
    ("synthetic", 30, "ours"): (3_000, 1.0000, 0.9000),
    ("synthetic", 70, "authors_wd0_fixed"): (280_000, 0.4537, 0.3869),
    ("synthetic", 70, "authors_wd0_timesI"): (5_000, 1.0000, 0.6423),
    ("synthetic", 70, "ours"): (3_000, 1.0000, 0.6689),
    ("synthetic", 100, "authors_wd0_timesI"): (5_000, 1.0000, 0.5870),
    ("synthetic", 100, "ours"): (3_000, 1.0000, 0.6000),
    ("synthetic", 300, "authors_wd0_timesI"): (5_000, 1.0000, 0.5894),
    ("synthetic", 300, "ours"): (3_000, 1.0000, 0.5556),
    ("synthetic", 1000, "authors_wd0_timesI"): (5_000, 1.0000, 0.5816),
    ("synthetic", 1000, "ours"): (3_000, 1.0000, 0.5933),
}


#: What :data:`VERDICT_STEP_SHARE` was recorded at, per row: (seed triples T, training examples n, minibatch size of
#: the authors' protocol) — the cpu preset's values. Anything else (an override) is estimated at its cap.
VERDICT_RECORDED_AT: dict[str, tuple[int, int, int]] = {
    "synthetic": (5, 1000, 100), "mnist": (5, 500, 100), "cifar": (5, 500, 100), "cifar_deep": (5, 500, 100),
}


def verdict_step_share(row: str, I: int, batch: str, cap: int, *, T: int, n: int, batch_size: int
                       ) -> tuple[float, float] | None:
    """The recorded shares (of the loop's steps, of the network·steps) of the step cap that batch ``batch`` of row
    ``row`` at width I runs at cap ``cap`` with T triples on n examples in minibatches of ``batch_size``
    (:data:`VERDICT_STEP_SHARE`), or None when there is no record at those values (:data:`VERDICT_RECORDED_AT`)."""
    rec = VERDICT_STEP_SHARE.get((row, int(I), batch))
    at = VERDICT_RECORDED_AT.get(row) == (int(T), int(n), int(batch_size))
    return (rec[1], rec[2]) if rec is not None and rec[0] == cap and at else None


def _verdict_training(stage: str, *, S: int, I: int, widths: Sequence[int], steps: int, batch: int | None, n: int,
                      check_every: int, share: tuple[float, float] | None, fixed: int = 0) -> Work:
    """One batch of the verdict sweep: :func:`sgd`, with the block's dual first layer where it takes it (one
    hidden layer, ``branch_block.choose_first_layer``: a step reads B columns of the (I·h, n) pre-activations and
    updates all of them, 2·B·I·h·n FLOPs and ≈ 3 passes over them, instead of 4·B·I·h·d FLOPs and 8 passes over the
    first layer's weights), and its recorded shares of the cap (``share``: of the
    loop's steps, which scale the steps' overhead, and of the network·steps, which scale the arithmetic; None: the
    cap, an upper bound). ``fixed``: units per branch that are the frozen constant unit (the authors' bias), which the
    block keeps out of its products."""

    w = sgd(stage, S=S, I=I, widths=widths, steps=steps, batch=batch, n=n, check_every=check_every)
    if len(widths) == 3 and choose_first_layer("auto", n=n, d=widths[0]) == "dual":
        B = n if batch is None or batch >= n else batch
        units = I * (widths[1] - fixed)
        primal, dual = 4.0 * I * widths[0] * widths[1] * B * S * steps, 2.0 * units * n * B * S * steps
        moved = F32 * S * steps * (8.0 * I * widths[0] * widths[1] + 2.0 * B * widths[0])      # weights, minibatch
        kept = F32 * S * steps * (3.0 * units * n + B * n)                                 # D passes, K rows
        w = replace(w, flops=w.flops - primal + dual, bytes=max(0.0, w.bytes - moved) + kept)
    return w if share is None else at_shares(w, share)


def verdict_sweep(stage: str, *, Is: Sequence[int], widths: Sequence[int], settings: Sequence[Any], training: Any,
                  T: int, n: int, radii: Sequence[float], G: int, K: int, n_window: int, n_probe: int,
                  device: str) -> list[Work]:
    """``landscapes.verdict.sweep``: per I, each training batch of :func:`companion.landscapes.verdict.blocks`
    (``settings``, :class:`~companion.landscapes.verdict.Setting`, under ``training``, a
    :class:`~companion.landscapes.verdict.Training`: the settings run at I, one batch per protocol and step cap;
    3T networks a setting, the authors' with the bias unit) at its recorded share of the cap
    (:func:`verdict_step_share`), then per setting and view (as trained, aligned) the losses, T alignments of two
    networks, Jensen gaps, 3T segments of K points and T·len(radii) G×G windows on n_window examples."""
    from companion.landscapes.verdict import blocks

    wb = (widths[0] + 1, widths[1] + 1, *widths[2:])
    out: list[Work] = []
    for I in Is:
        for protocol, cap, block in blocks(settings, I, training):
            label, authors = "+".join(s.slug for s in block), protocol == "authors"
            out.append(_verdict_training(f"{stage} I={I}: {label} training", S=len(block) * 3 * T, I=I,
                                         widths=wb if authors else widths, steps=cap, n=n,
                                         batch=training.batch_size if authors else training.batch_size_ours,
                                         check_every=training.check_every,
                                         share=verdict_step_share(stage, I, label, cap, T=T, n=n,
                                                                    batch_size=training.batch_size),
                                         fixed=int(authors)))
            w = wb if authors else widths
            for _ in block:
                out.append(points(f"{stage} I={I}: losses", count=3 * T * 3 + T, I=I, widths=w, n=n))
                out.append(align(f"{stage} I={I}: align", pairs=2 * T, I=I, widths=w, n_probe=min(n_probe, n),
                                 fixed=int(authors)))
                out.append(plane_grid(f"{stage} I={I}: segments", points=K, rows=1, I=I, widths=w, n=n,
                                      planes=2 * 3 * T, device=device))
                out.append(plane_grid(f"{stage} I={I}: windows", points=G * G, I=I, widths=w, n=min(n_window, n),
                                      planes=2 * T * len(radii), device=device))
    return out


def landscape_verdict(p: Mapping[str, Any], device: str) -> list[Work]:
    """The synthetic sweep (settings: weight decays × rate scalings, plus ours; the fixed rate at its own widths
    and caps) and the Figure 4 rows' sweep (decays, fixed rate, plus ours; minibatches for both protocols)."""
    from companion.landscapes.verdict import Training, settings_grid

    syn = Training(lr=p["lr"], batch_size=p["batch_size"], steps=p["steps"], lr_ours=p["lr_ours"],
                   steps_ours=p["steps_ours"], steps_fixed_per_I=p["steps_fixed_per_I"], Is_fixed=p["Is_fixed"])
    common = dict(radii=p["radii"], G=p["G"], K=p["K"], n_window=p["n_window"], n_probe=p["n_probe"], device=device)
    out = verdict_sweep("synthetic", Is=p["Is"], widths=(10, 1, 1), settings=settings_grid(p["weight_decays"],
                        p["lr_scalings"]), training=syn, T=p["T"], n=p["n"], **common)
    if {"cifar", "cifar_deep"} & set(p["rows"]):
        out.append(jpegs("CIFAR-10", p["real_n_train"]))
    real = settings_grid(p["real_weight_decays"], ["fixed"])
    for key in p["rows"]:
        deep = key in DEEP_ROWS
        tr = Training(lr=p["real_lr"], batch_size=p["real_batch_size"],
                      steps=p["real_steps_deep" if deep else "real_steps"], lr_ours=p["real_lr_ours"],
                      steps_ours=p["real_steps"], batch_size_ours=p["real_batch_size"])
        out += verdict_sweep(key, Is=p["real_Is_deep"] if deep else p["real_Is"], widths=FIG4_ROWS[key][1],
                             settings=real, training=tr, T=p["real_T"], n=p["real_n_train"], **common)
    return out


#: Table 1's training work, which no machine calibration can give: row → (step cap, Σ steps taken ÷ (networks ×
#: cap), lane·steps ÷ (networks × cap), padded unit·steps ÷ (units × cap)) — the steps its networks take before the
#: rule, an exact zero loss or the cap stops them, and what the compiled kernel computes for them
#: (:func:`lane_group_steps`: a SIMD group of 16 lanes runs until its longest-running network stops, at its widest
#: network's width, so a group's cost follows its slowest network, not the sum of its steps). Recorded at seed 0
#: by :func:`hitting_lane_record` from the blocks of a ``--preset cpu`` run (2026-12-02, 16 float32 lanes
#: (AVX-512); 100 seeds for the headline and protocol rows, 20 for the ablation rows): the steps are the same on
#: every machine (one lane per network, no reduction across networks), the lane counts wherever the kernel has 16
#: lanes. A row not here, or at another cap, is estimated at its cap, an upper bound.
HITTING_LANE_SHARE: dict[str, tuple[int, float, float, float]] = {
    "headline": (100_000, 0.042909, 0.043412, 0.041345), "fixed steps": (100_000, 0.241042, 0.241042, 0.210628),
    "fixed steps + cuts": (100_000, 0.241042, 0.241042, 0.210628),
    "lr 1 · rule": (100_000, 0.015246, 0.015792, 0.014187), "lr 1 · fixed": (100_000, 0.129729, 0.129729, 0.098591),
    "lr 0.01 · rule": (1_000_000, 0.037329, 0.041693, 0.041793),
    "lr 0.01 · fixed": (1_000_000, 0.241042, 0.241393, 0.212593),
    "init ×0.3 · rule": (100_000, 0.076484, 0.076996, 0.066259),
    "init ×0.3 · fixed": (100_000, 0.355042, 0.355042, 0.309079),
    "init ×3 · rule": (100_000, 0.082621, 0.083117, 0.077288),
    "init ×3 · fixed": (100_000, 0.299542, 0.299542, 0.262422),
    "τ = 0.5 · rule": (100_000, 0.025513, 0.026004, 0.024602),
    "τ = 0.5 · fixed": (100_000, 0.152688, 0.152688, 0.129331),
    "τ = 2 · rule": (100_000, 0.081362, 0.081871, 0.076453), "τ = 2 · fixed": (100_000, 0.405292, 0.405292, 0.367063),
    "1/I output · rule": (1_000_000, 0.063017, 0.063068, 0.059438),
    "1/I output · fixed": (1_000_000, 0.342729, 0.368524, 0.367075),
    "full-batch GD": (100_000, 0.058525, 0.063027, 0.049297),
    "full batch, lr 2 · rule": (100_000, 0.061169, 0.069195, 0.054736),
    "full batch, lr 2 · fixed": (100_000, 0.059458, 0.067736, 0.055612),
    "orthonormal teacher · rule": (100_000, 0.106416, 0.120895, 0.117498),
    "orthonormal teacher · fixed": (100_000, 0.232063, 0.245038, 0.227052),
    "median labels · rule": (100_000, 0.125835, 0.143393, 0.146671),
    "median labels · fixed": (100_000, 0.270625, 0.276674, 0.257049),
    "B = 10 · rule": (300_000, 0.000762, 0.000956, 0.000946), "B = 10 · fixed": (300_000, 0.19691, 0.236311, 0.20474),
    "B = 50 · rule": (100_000, 0.059869, 0.061481, 0.055671),
    "B = 50 · fixed": (100_000, 0.255375, 0.289119, 0.266871),
    "B = 500 · rule": (100_000, 0.15346, 0.154006, 0.133556),
    "B = 500 · fixed": (100_000, 0.233667, 0.268594, 0.24552),
}


def lane_group_steps(steps: Sequence[int], widths: Sequence[int], lanes: int, period: int) -> tuple[Any, Any]:
    """What the compiled Table 1 kernel (``training.block``) computes for a block whose networks take ``steps[s]``
    steps at width ``widths[s]``: at every ``period`` steps (the check interval, where every call of the kernel
    ends while a rule is live) the live networks are packed, stably sorted by width, into groups of ``lanes``;
    each group runs until its longest-running network stops or the period ends, every lane at the group's widest
    width (padding lanes and units compute too). Returns per network its equal share of its groups' work:
    (lane·steps, unit·steps), arrays of shape (N,) whose sums are the block's."""
    import numpy as np

    s, w = np.asarray(steps, dtype=np.int64), np.asarray(widths, dtype=np.int64)
    order = np.argsort(w, kind="stable")
    s_o, w_o = s[order], w[order]
    lane_o, unit_o = np.zeros(len(s)), np.zeros(len(s))
    for t in range(0, int(s.max(initial=0)), period):
        live = np.nonzero(s_o > t)[0]
        n, G = len(live), -(-len(live) // lanes)
        run = np.zeros(G * lanes, dtype=np.int64)
        run[:n] = np.minimum(s_o[live], t + period) - t
        g_run = run.reshape(G, lanes).max(1).astype(float)                             # (G,) the group's steps
        g_width = w_o[live][np.minimum((np.arange(G) + 1) * lanes, n) - 1]               # (G,) its widest network
        members = np.minimum(lanes, n - np.arange(G) * lanes)
        g = np.arange(n) // lanes
        lane_o[live] += (lanes * g_run / members)[g]
        unit_o[live] += (lanes * g_run * g_width / members)[g]
    lane, unit = np.empty(len(s)), np.empty(len(s))
    lane[order], unit[order] = lane_o, unit_o
    return lane, unit


def hitting_lane_record(blocks: Sequence[tuple[Mapping[str, Any], Sequence[int]]],
                        lanes: int) -> dict[str, tuple[int, float, float, float]]:
    """:data:`HITTING_LANE_SHARE` entries from trained blocks: each a :func:`~companion.training.hitting.block_configs`
    configuration with the steps every network of it took (``BlockResult.steps``, in ``run_block``'s order: rows,
    then widths, then seeds)."""
    import numpy as np

    out = {}
    for config, steps in blocks:
        widths, rows = config["widths"], config["rows"]
        per_net = np.array([w for _, _, S in rows for w in widths for _ in range(S)])
        steps = np.asarray(steps, dtype=np.int64)
        if len(steps) != len(per_net):
            raise ValueError(f"block {config['label']}: {len(steps)} step counts for {len(per_net)} networks")
        periods = {pd["check_every"] for _, pd, _ in rows}
        if len(periods) != 1:
            raise ValueError(f"block {config['label']}: one check interval per block, got {sorted(periods)}")
        lane, unit = lane_group_steps(steps, per_net, lanes, periods.pop())
        start = 0
        for name, pd, S in rows:
            sl = slice(start, start + S * len(widths))
            start = sl.stop
            nets, cap = S * len(widths), int(pd["steps"])
            out[name] = (cap, round(float(steps[sl].sum()) / (nets * cap), 6), round(float(lane[sl].sum()) / (nets * cap), 6),
                         round(float(unit[sl].sum()) / (S * sum(widths) * cap), 6))
    return out


def lane_share(row: str, cap: int) -> tuple[float, float] | None:
    """The recorded (lane·steps, unit·steps) shares of row ``row`` at cap ``cap`` (:data:`HITTING_LANE_SHARE`), or
    None when there is no record at that cap."""
    rec = HITTING_LANE_SHARE.get(row)
    return (rec[2], rec[3]) if rec is not None and rec[0] == cap else None


def hitting_rate(p: Mapping[str, Any], device: str) -> list[Work]:
    """Every row (``companion.training.hitting.protocol_rows``; stage ``headline``, else the row's name and its
    block: the rows that share data and batch size train in one block) with its networks (S or ablation_S seeds ×
    widths) at ``matmul_flops`` per unit and step, timed by the ``block_*`` probes for the lane·steps and padded
    unit·steps the kernel computes for it as recorded (:data:`HITTING_LANE_SHARE`), else up to its step cap (an
    upper bound: the rule stops networks early, and a network at exactly zero loss stops); without the probes
    the minibatch read once per SIMD group of 16 networks and step, a
    kernel call per check interval; then the float64 equivalence check (six networks by autograd, one at a time) and
    the benchmark (the block at bench_steps, the old designs and the torch engine at bench_old_steps, padded
    autograd at bench_autograd_steps)."""
    from companion.training.hitting import Protocol, block_configs, protocol_rows
    from companion.training.onehidden import matmul_flops

    P = Protocol(**p["protocol"])
    W, nw = sum(p["widths"]), len(p["widths"])
    rows = protocol_rows(P, p["S"], p["protocols"], p["ablation"], S_ablation=p["ablation_S"], fixed=p["fixed"])
    out = []
    for c in block_configs(rows, p["widths"]):
        for name, pd, S in c["rows"]:
            q = Protocol(**pd)
            share = lane_share(name, q.steps)
            lane, unit = share or (1.0, 1.0)
            flops = float(matmul_flops(S * W, q.d, q.batch)) * q.steps
            traffic, ops = F32 * math.ceil(S * nw / 16) * q.batch * q.d * q.steps, 30.0 * q.steps / q.check_every
            out.append(Work("headline" if name == "headline" else f"{name} ({c['label']})", flops=flops,
                            bytes=traffic, ops=ops, peak=F32 * (S * W * (q.d + 1) * 3 + q.n * q.d), bound=share is None,
                            probed={"block_net_step": S * nw * q.steps * lane, "block_flop": flops * unit},
                            replaces={"flops": flops, "bytes": traffic, "ops": ops}))
    eq_ops = 6.0 * p["equiv_steps"] * 40
    out.append(Work("equivalence (autograd, one network at a time)", ops=eq_ops,
                    probed={"sgd_step": 6.0 * p["equiv_steps"]}, replaces={"ops": eq_ops}))
    bench_units = p["bench_S"] * W
    # the block at bench_steps on every thread, then on one (about half the rate on 2 cores): 3 × in block units
    bb = onehidden("bench: block", units=bench_units, d=P.d, batch=P.batch, steps=2 * p["bench_steps"], n=P.n)
    out.append(replace(bb, probed={"block_net_step": 3.0 * p["bench_S"] * nw * p["bench_steps"],
                                   "block_flop": 1.5 * bb.flops}, replaces={"flops": bb.flops, "bytes": bb.bytes,
                                                                            "ops": bb.ops}))
    out.append(onehidden("bench: old designs", units=bench_units, d=P.d, batch=P.batch, steps=3 * p["bench_old_steps"],
                         n=P.n))
    out.append(replace(sgd("bench: padded autograd", S=p["bench_S"] * nw, I=max(p["widths"]), widths=(P.d, 1, 1),
                           steps=p["bench_autograd_steps"], batch=P.batch, n=P.n,
                           check_every=p["bench_autograd_steps"]), bound=False))
    return [replace(w, bound=False) if w.stage.startswith("bench") else w for w in out]


def vgg_branches(p: Mapping[str, Any], device: str) -> list[Work]:
    """Every network of the grid and its two controls (``vgg_model.figure5_configs``: each distinct (branch
    width, branches), at every weight decay) trained for ``epochs`` on n_train images with n_seeds networks side
    by side, tested after every ``test_every``-th epoch and the last, each test after a forward pass over
    ``bn_refresh`` training images to recompute the BatchNorm statistics (``vgg_model.grid_flops``); ≈ 3840·w
    activations per branch and image (the seven convolutions' outputs), ≈ 12 passes in training (BatchNorm,
    ReLU, pooling, their backward), 4 in testing; bf16 on CUDA (tensor cores, 2-byte activations). The points
    run ``workers`` at a time in one process on a CPU, so their peaks add up there. Then the benchmark of the
    four forms, and the data."""
    import torch

    from companion.training.vgg_model import figure5_configs, grid_flops, train_flops_per_image, vgg9_parameters

    cuda = device == "cuda" and p["amp"] != "off"
    act_b = 2 if cuda else F32
    S, B, out = p["n_seeds"], p["batch_size"], [jpegs("CIFAR-10", p["n_train"] + p["n_test"])]
    tests = p["epochs"] if p["test_every"] == 1 else (p["epochs"] // p["test_every"] if p["test_every"] else 0) + 1
    pairs = dict.fromkeys(c.point for c in figure5_configs(p["widths"], p["Is"], split_I=p["split_I"]))
    side = 1 if device == "cuda" else p["workers"]
    lanes = max(1, min(p["workers"], torch.get_num_threads()))    # CPU: points side by side, one thread each
    for wd in p["weight_decays"]:
        for w, I in pairs:
            steps = p["epochs"] * math.ceil(p["n_train"] / B)
            act = 3840 * w * I * S
            train_f = grid_flops([w], [I], epochs=p["epochs"], n_train=p["n_train"], n_test=0, seeds=S)
            test_f = grid_flops([w], [I], epochs=tests, n_train=0, n_test=p["n_test"] + p["bn_refresh"], seeds=S)
            traffic = act * act_b * (12.0 * p["epochs"] * p["n_train"] + 4.0 * tests * (p["n_test"] + p["bn_refresh"]))
            out.append(Work(f"train w={w} I={I} wd={wd:g}", tensor_cores=cuda, flops=train_f + test_f, bytes=traffic,
                            probed={"vgg_flop": (train_f + test_f) / lanes}, replaces={"flops": train_f + test_f,
                                                                                 "bytes": traffic},
                            ops=steps * (120 if cuda else 60 * I * S) + tests * math.ceil(p["n_test"] / 1000) * 40,
                            peak=side * (3.0 * act_b * act * B + 4 * F32 * S * I * vgg9_parameters(w))
                            + F32 * 3072 * (p["n_train"] + p["n_test"])))
    for I in p["bench_Is"]:
        f = train_flops_per_image(p["bench_w"], I) * p["bench_batch"] * (p["bench_repeats"] + 1)
        act = 3840 * p["bench_w"] * I * p["bench_batch"]
        traffic = 4 * 12.0 * act_b * act * (p["bench_repeats"] + 1)
        out.append(Work(f"bench I={I}", flops=4 * f, bytes=traffic, ops=(p["bench_repeats"] + 1) * (240 + 240 * I),
                        tensor_cores=cuda, peak=3.0 * act_b * act, probed={"vgg_flop": 4 * f / torch.get_num_threads()},
                        replaces={"flops": 4 * f, "bytes": traffic}))
    return out


def parallel_linear_budgets(p: Mapping[str, Any]) -> dict[str, tuple[int, float]]:
    """Stage kind → (its L-BFGS calls' max_iter, its total iteration budget) in :func:`parallel_linear`: the
    interpolation runs ((outer + 1) calls of ``inner`` per run) and the regularised fits (``inner``·10 per β)."""
    runs = len(p["train_depths"]) + len(p["ms"]) + len(p.get("rank_one_ms", [])) + sum(L >= 3 for L in p["train_depths"])
    return {"interpolation": (p["inner"], float(runs * (p["outer"] + 1) * p["inner"])),
            "regularised": (10 * p["inner"], float(len(p["betas"]) * 10 * p["inner"]))}


def parallel_linear(p: Mapping[str, Any], device: str) -> list[Work]:
    """Augmented-Lagrangian training ((outer + 1) L-BFGS runs of ``inner`` iterations on ``restarts`` batched
    restarts) for every weight-decay depth (and at depths ≥ 3 the rescaled primal at t = 1) and every branch count
    m (path regulariser, L = 3; full-width and, for rank_one_ms, rank-one branches, counted as full width); the
    regularised fits (``inner``·10 iterations per β); two small convex programs; the 1-D closed-form grids. The
    tolerances stop most L-BFGS calls early: at recorded parameters (:data:`LBFGS_RECORD`) each stage runs the
    recorded share of its budget at the recorded evaluations per iteration, else the budget (an upper bound)."""
    k = len(p["sigma"])
    R, out = p["restarts"], []
    rec = {kind: lbfgs_record("parallel_linear", p, kind) for kind in ("interpolation", "regularised")}

    def run(stage: str, kind: str, budget: float, **kw: Any) -> Work:
        share, per = rec[kind] or (1.0, LBFGS_EVALS)
        return lbfgs(stage, iterations=budget * share, evals_per_iter=per, bound=rec[kind] is None, **kw)

    runs = [(L, 1) for L in p["train_depths"]] + [(3, m) for m in p["ms"]] + [(3, m) for m in p.get("rank_one_ms", [])]
    runs += [(L, 1) for L in p["train_depths"] if L >= 3]           # the rescaled primal at t = 1
    for L, m in runs:
        out.append(run(f"interpolation L={L} m={m}", "interpolation", (p["outer"] + 1) * p["inner"],
                       flops_per_eval=R * m * L * 6.0 * k**3, ops_per_eval=12.0 * L + 25, params=R * m * L * k * k))
    for b in p["betas"]:
        out.append(run(f"regularised β={b}", "regularised", 10 * p["inner"], flops_per_eval=R * 3 * 6.0 * k**3,
                       ops_per_eval=40, params=R * 3 * k * k))
        out.append(Work(f"closed form β={b}", bytes=F64 * 200_001 * 3 * 12, ops=200))
    out.append(sdp("convex programs", cone_sizes=(2 * k, 2 * k), count=2 + len(set(p["depths"]) | set(p["train_depths"]))))
    out.append(cvxpy_first_use())
    return out


def adam(stage: str, *, steps: int, elements: float, flops_per_step: float, dtype: int = F32) -> Work:
    """``steps`` Adam steps on many tiny nets trained as one batch (``relu_train.train_relu_regularized``): per step
    a forward and a backward over ``elements`` activations (≈ ``ADAM_PASSES`` elementwise passes) and
    ``ADAM_STEP_OPS`` small operations; ``flops_per_step`` of products."""
    return Work(stage, flops=steps * flops_per_step, bytes=steps * ADAM_PASSES * elements * dtype,
                ops=steps * ADAM_STEP_OPS, peak=dtype * 12 * elements)


def socp(stage: str, *, variables: float, count: int = 1) -> Work:
    """``count`` group-lasso programs by cvxpy + Clarabel on the host: canonicalisation and an interior-point
    solve, ``SOCP_OPS_PER_VARIABLE`` host operations per variable (``relu_program.parallel_program``)."""
    return Work(stage, ops=count * (CVXPY_OPS + SOCP_OPS_PER_VARIABLE * variables), host=True,
                peak=F64 * 400 * variables)


def parallel_relu(p: Mapping[str, Any], device: str) -> list[Work]:
    """A: three-layer ReLU nets by the augmented Lagrangian ((outer + 1) × inner L-BFGS iterations): the
    standard nets on every whitened ratio, the parallel nets for every m in a_ms under both regularisers, the
    rank-one standard nets (every case and data set one batch) minimised over t and at t = 1 (the exact gauge
    programs there are tiny and left out). B: Adam then a per-net L-BFGS polish (len(b_taus) × b_iters
    iterations) on b_datasets × b_ms × b_restarts parallel nets and b_datasets × b_restarts standard ones, the
    whitened and exact (b_exact_n) batches; per data set one full convex program (all 2(1 + (n−1) + C(n−1, 2))
    inner patterns × about 4n harvested outer ones) and a small one; the exact program over 2^n outer sign
    vectors at b_exact_n."""
    n, R, out = p["n"], p["restarts"], []
    T, a_ms = len(p["ratios"]), p.get("a_ms", [2])
    batches = [("A: whitened, standard", T, 1, n)]
    batches += [(f"A: whitened, parallel {kind}", T * len(a_ms), max(a_ms), 1) for kind in ("path", "weight decay")]
    C = len(p["rank_one"]) * p.get("rank_one_sets", 1)
    batches += [("C: rank-one", C, 1, n), ("C: rank-one at t = 1", C, 1, n)]
    for name, nets, m, h2 in batches:
        B = nets * R * m
        out.append(lbfgs(name, iterations=(p["outer"] + 1) * p["inner"],
                         flops_per_eval=B * 6.0 * (n * n * n + n * n * h2), ops_per_eval=40,
                         params=B * (n * n + n * h2 + h2)))
    if "b_n" not in p:
        return out
    bn, h1, Rb, steps, d = p["b_n"], p["b_h1"], p["b_restarts"], p["b_steps"], 3
    polish = len(p["b_taus"]) * p["b_iters"]
    runs = [("B: parallel nets", p["b_datasets"] * Rb * sum(p["b_ms"]), p["b_datasets"] * len(p["b_ms"]) * Rb * max(p["b_ms"]), bn, h1, 1),
            ("B: standard nets", p["b_datasets"] * Rb, p["b_datasets"] * Rb, bn, h1, h1),
            ("B: whitened and exact", (1 + p["b_exact_datasets"]) * Rb * (p["b_exact_n"] + 1),
             (1 + p["b_exact_datasets"]) * Rb * (p["b_exact_n"] + 1), p["b_exact_n"], p["b_exact_n"], 1)]
    for name, branches, padded, nn, w1, w2 in runs:
        elements = branches * nn * (w1 + w2)
        out.append(adam(f"{name}: Adam", steps=steps, elements=elements,
                        flops_per_step=6.0 * branches * nn * (d * w1 + w1 * w2 + w2)))
        out.append(lbfgs(f"{name}: polish", iterations=polish, ops_per_eval=60, params=padded * (d * w1 + w1 * w2 + w2),
                         flops_per_eval=6.0 * padded * nn * (d * w1 + w1 * w2 + w2)))
    inner_full = 2 * (1 + (bn - 1) + (bn - 1) * (bn - 2) // 2)
    out.append(cvxpy_first_use())
    out.append(socp("B: convex programs", variables=4.0 * 4 * bn * inner_full * d, count=p["b_datasets"]))
    out.append(socp("B: standard nets' bounds and regions", variables=4.0 * 8 * inner_full * d,
                    count=p["b_datasets"] * (1 + len(p["b_ms"]))))
    ne = p["b_exact_n"]
    inner_e = 2 * (1 + (ne - 1) + (ne - 1) * (ne - 2) // 2)
    out.append(socp("B.3: exact programs", variables=4.0 * (2 ** ne + 4 * ne) * inner_e * d, count=2 * p["b_exact_datasets"]))
    return out


#: chapter name → its cost function ``(parameters, device "cpu" | "cuda") → stages``.
COSTS: dict[str, Callable[[Mapping[str, Any], str], list[Work]]] = {
    "shapley_folkman": shapley_folkman, "theorem1": theorem1, "theorem2": theorem2,
    "synthetic_landscape": synthetic_landscape, "real_landscapes": real_landscapes,
    "landscape_verdict": landscape_verdict, "hitting_rate": hitting_rate, "vgg_branches": vgg_branches,
    "parallel_linear": parallel_linear, "parallel_relu": parallel_relu,
}
