"""The decisive landscape sweep: many triples of solutions per width I and training setting, measured by
window-independent quantities, to decide what P1's landscape pictures (Figures 1 and 4) show.

A *setting* is a training protocol plus its free arguments:

- ``"authors"``: the authors' ``fully_connected.py`` (written for MNIST: 784 inputs, 10 classes, the
  multi-margin loss; here applied to every data set, the synthetic one included) — nn.Linear branches with biases and PyTorch's
  default initialisation (:func:`companion.training.nets.init_default`), f = mean of branches, minibatch SGD with
  coupled weight decay at a fixed rate (or the rate × I), their rate-cut / stopping rule on minibatch losses;
- ``"ours"``: the book's earlier protocol — no biases, N(0, 1/fan-in) weights with O(1) output weights,
  full-batch gradient descent at rate × I, cut when the full loss rises (``rule="check_full"``).

All settings of one protocol and step cap, and all T triples, are trained as one batch of S = settings·3T
networks (rates and decays per network; the same initial networks and batch orders across settings; :func:`blocks`).
The authors' fixed rate has a cap of its own that grows with I (:meth:`Training.cap`: with f = the mean of I
branches each unit learns at rate lr/I) and may run at fewer widths (``Training.Is_fixed``). Each (I,
batch) is one configuration of :func:`companion.core.fanout.map`: local by default, on Dask when a scheduler is
given, resumable from a store. Every triple is
then measured in two views (as trained; aligned by :mod:`companion.landscapes.symmetry`): its training loss and
accuracy, the Jensen gap at the centre and the three segment barriers (both ÷ the zero function's loss), the
solutions' extent in units of ‖θ₃‖, and the range-normalised score at each window radius (units of ‖θ₃‖,
the authors' plane).

The findings on P1's statement (:func:`findings`) come from the per-triple rows (:func:`by_width`), seed
triples being the replicates: per row, setting and view, the endpoint (the measure at the widest I) and the
trend (its slope against log10 I), each gated on the setting's training loss.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from companion.landscapes.pipeline import FIG4_ROWS
from companion.landscapes.measures import converged, jensen_gaps, losses_of, score_vs_window, segment_barriers, zero_loss
from companion.landscapes.plane import plane_from_solutions
from companion.core import fanout as fanout
from companion.core import seeds
from companion.core.devices import Device
from companion.core.files import atomic_write_text
from companion.training.losses import LossFn
from companion.training.onehidden import intra_op_threads
from companion.training.nets import Layers, forward, init_branches, init_default, trainable_masks, with_ones
from companion.core.stats import bootstrap_mean_interval, log_slope, mean_interval
from companion.landscapes.symmetry import align_to_first
from companion.training.train import train_sgd

Protocol = Literal["authors", "ours"]
LrScaling = Literal["fixed", "times_I"]
View = Literal["none", "aligned"]
MEASURES = ("loss_rel", "acc", "gap", "barrier", "extent")
#: per-triple columns on the runs themselves: mean steps taken, fewest and most, and the share converged
RUN_COLUMNS = ("steps", "steps_min", "steps_max", "converged")


@dataclass(frozen=True)
class Setting:
    """One training setting: protocol, coupled weight decay, and whether the rate is multiplied by I."""

    protocol: Protocol
    weight_decay: float = 0.0
    lr_scaling: LrScaling = "fixed"

    @property
    def name(self) -> str:
        if self.protocol == "ours":
            return "ours (rate·I, no decay)"
        return f"authors, wd {self.weight_decay:g}, rate{'·I' if self.lr_scaling == 'times_I' else ' fixed'}"

    @property
    def slug(self) -> str:
        """The setting in a claim id: ``ours``, ``authors_wd0_fixed``, ``authors_wd0.001_timesI``."""
        if self.protocol == "ours":
            return "ours"
        return f"authors_wd{self.weight_decay:g}_{'timesI' if self.lr_scaling == 'times_I' else 'fixed'}"

    @property
    def is_primary(self) -> bool:
        """The authors' protocol at no weight decay and a fixed rate: the setting a part's primary finding
        quotes (see :func:`findings`)."""
        return self.protocol == "authors" and self.weight_decay == 0.0 and self.lr_scaling == "fixed"


def settings_grid(weight_decays: Sequence[float], lr_scalings: Sequence[LrScaling], *, ours: bool = True) -> list[Setting]:
    """The authors' protocol at every (weight decay, rate scaling), then ours if asked."""
    for s in lr_scalings:
        if s not in ("fixed", "times_I"):
            raise ValueError(f"unknown rate scaling {s!r}: choose 'fixed' or 'times_I'")
    if any(w < 0 for w in weight_decays):
        raise ValueError(f"weight decays must be ≥ 0, got {list(weight_decays)}")
    grid = [Setting("authors", float(w), s) for s in lr_scalings for w in weight_decays]
    return grid + ([Setting("ours")] if ours else [])


@dataclass(frozen=True)
class Training:
    """The stated values of the arguments the authors did not report, and ours."""

    lr: float = 0.1                 # authors: the fixed rate (× I for lr_scaling = "times_I")
    batch_size: int = 100
    steps: int = 3000               # authors: at most this many steps (their epochs × batches per epoch)
    check_every: int = 100
    lr_ours: float = 0.5            # ours: rate lr_ours·I
    steps_ours: int = 3000
    batch_size_ours: int | None = None   # ours: None = full batch
    rel_tol: float = 0.01           # convergence: the registered tolerance (÷ zero loss, last tenth of the cap)
    steps_fixed_per_I: int = 0      # authors at a fixed rate: at most max(steps, steps_fixed_per_I·I) steps
    Is_fixed: tuple[int, ...] | None = None   # authors at a fixed rate: only at these widths (None: every I)

    def __post_init__(self) -> None:
        if self.steps_fixed_per_I < 0:
            raise ValueError(f"steps_fixed_per_I must be ≥ 0, got {self.steps_fixed_per_I}")
        if self.Is_fixed is not None:
            object.__setattr__(self, "Is_fixed", tuple(int(i) for i in self.Is_fixed))
            if not self.Is_fixed or min(self.Is_fixed) < 1:
                raise ValueError(f"Is_fixed must be None or widths ≥ 1, got {list(self.Is_fixed)}")

    def cap(self, setting: Setting, I: int) -> int:
        """The step cap of ``setting`` at width I: ours ``steps_ours``; the authors' at rate·I ``steps``; at a
        fixed rate max(``steps``, ``steps_fixed_per_I``·I) — with f = the mean of I branches each unit learns at
        rate lr/I there, so their rule ends a run only after a number of steps that grows like I."""
        if setting.protocol == "ours":
            return self.steps_ours
        return max(self.steps, self.steps_fixed_per_I * I) if setting.lr_scaling == "fixed" else self.steps

    def runs_at(self, setting: Setting, I: int) -> bool:
        """Whether ``setting`` is trained at width I (the authors' fixed rate only at ``Is_fixed``)."""
        fixed = setting.protocol == "authors" and setting.lr_scaling == "fixed"
        return not fixed or self.Is_fixed is None or I in self.Is_fixed


def blocks(settings: Sequence[Setting], I: int, training: Training) -> list[tuple[Protocol, int, list[Setting]]]:
    """The training batches at width I, as (protocol, step cap, settings): the settings that run at I
    (:meth:`Training.runs_at`), one batch per (protocol, cap) — settings of one protocol and cap train together,
    so no setting runs to another's longer cap —, the authors' batches first, each in the order of ``settings``."""
    out: list[tuple[Protocol, int, list[Setting]]] = []
    for protocol in ("authors", "ours"):
        for s in settings:
            if s.protocol != protocol or not training.runs_at(s, I):
                continue
            cap = training.cap(s, I)
            block = next((b for p, c, b in out if p == protocol and c == cap), None)
            if block is None:
                out.append((protocol, cap, [s]))
            else:
                block.append(s)
    return out


@dataclass
class Trained:
    """3T networks (triples 3t, 3t+1, 3t+2) of one setting, ready to measure."""

    setting: Setting
    layers: Layers
    x: torch.Tensor                 # (n, d) or (n, d + 1) with the bias column: what the layers take
    trainable: Layers | None
    n_fixed: int
    steps: np.ndarray               # (3T,) steps taken
    converged: np.ndarray           # (3T,) bool, by :func:`companion.landscapes.measures.converged`
    cap: int                        # the step cap of the setting's batch at this I (:meth:`Training.cap`)
    seconds: float                  # training time of the whole batch this setting was part of (:func:`blocks`)


def train_triples(x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *, I: int, widths: Sequence[int],
                  settings: Sequence[Setting], T: int, seed: int, training: Training, device: Device = "cpu",
                  dtype: torch.dtype = torch.float32, progress: Callable | None = None) -> list[Trained]:
    """Train T triples per setting at width I: one batch per (protocol, step cap) (:func:`blocks`; settings and
    triples batched), the settings that do not run at I (:meth:`Training.runs_at`) left out.
    Triple t, member k starts from seed ``seed·10 000 + 3t + k`` (seed layout ``"sweep_init"``) in every setting of a protocol."""
    inits = seeds.derive_many(seed, "sweep_init", "init", 3 * T)
    zero = zero_loss(loss_fn, y, widths[-1], dtype=x.dtype)
    out = []
    for protocol, cap, block in blocks(settings, I, training):
        A = len(block)
        if protocol == "authors":
            L0 = init_default(A * 3 * T, I, widths, seed=inits * A, device=device, dtype=dtype)
            xb, masks, n_fixed = with_ones(x), trainable_masks(L0), 1
            lr = [training.lr * (I if s.lr_scaling == "times_I" else 1) for s in block for _ in inits]
            wd = [s.weight_decay for s in block for _ in inits]
            r = train_sgd(L0, xb, y, loss_fn, steps=cap, lr=lr, seeds=inits * A, weight_decay=wd,
                          batch_size=training.batch_size, check_every=training.check_every, trainable=masks,
                          rule="authors", scale="mean", progress=progress)
        else:
            L0 = init_branches(3 * T, I, widths, seed=inits, device=device, dtype=dtype, parametrization="mean")
            xb, masks, n_fixed = x, None, 0
            r = train_sgd(L0, xb, y, loss_fn, steps=cap, lr=training.lr_ours * I, seeds=inits,
                          batch_size=training.batch_size_ours, check_every=training.check_every, scale="mean",
                          progress=progress)
        conv = converged(r.history, r.steps, r.loss, cap, check_every=training.check_every, rel_tol=training.rel_tol,
                         scale=zero)
        for a, s in enumerate(block):
            sl = slice(3 * T * a, 3 * T * (a + 1))
            out.append(Trained(s, [W[sl] for W in r.layers], xb, masks, n_fixed, r.steps[sl].cpu().numpy(), conv[sl],
                               cap, r.seconds))
    return out


def _accuracy(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        f = forward(layers, x, scale="mean")
        pred = f.argmax(-1) if f.shape[-1] > 1 else torch.where(f[..., 0] >= 0, 1.0, -1.0).to(y.dtype)
        return (pred == y).double().mean(-1).cpu().numpy()


def _run_columns(tr: Trained, t: int) -> dict[str, float]:
    """Triple ``t``'s :data:`RUN_COLUMNS`."""
    s = tr.steps[3 * t:3 * t + 3]
    return {"steps": float(s.mean()), "steps_min": float(s.min()), "steps_max": float(s.max()),
            "converged": float(tr.converged[3 * t:3 * t + 3].mean())}


def runs_table(tr: Trained, y: torch.Tensor, loss_fn: LossFn) -> pd.DataFrame:
    """One row per run (network) of ``tr``: setting, triple, member, steps taken, step cap, converged, final
    full-data loss (÷ zero loss) and accuracy."""
    L = tr.layers
    zero = zero_loss(loss_fn, y, L[-1].shape[2], dtype=tr.x.dtype)
    loss = losses_of(L, tr.x, y, loss_fn, scale="mean").cpu().numpy() / zero
    acc = _accuracy(L, tr.x, y)
    return pd.DataFrame({"setting": tr.setting.name, "triple": np.arange(len(loss)) // 3, "member": np.arange(len(loss)) % 3,
                         "steps": tr.steps, "cap": tr.cap, "converged": tr.converged, "loss_rel": loss, "acc": acc})


def measure_triples(tr: Trained, y: torch.Tensor, loss_fn: LossFn, *, views: Sequence[View], radii: Sequence[float],
                    G: int, K: int, n_probe: int, n_window: int | None = None) -> pd.DataFrame:
    """One row per (view, triple): mean training loss (÷ zero loss) and accuracy of its 3 solutions, the steps
    its runs took (mean, fewest, most) and the share of them converged (:data:`RUN_COLUMNS`), how much
    the view changed any of their losses (``loss_drift``, ÷ zero loss: 0 up to rounding), the Jensen
    gap and the largest of the three segment barriers (÷ zero loss), the solutions' extent (largest plane
    coordinate, units of ‖θ₃‖) and the score at each window radius (columns ``score@r``; surfaces on the first
    ``n_window`` training examples, default all)."""
    x, L = tr.x, tr.layers
    T = L[0].shape[0] // 3
    zero = zero_loss(loss_fn, y, L[-1].shape[2], dtype=x.dtype)
    losses = losses_of(L, x, y, loss_fn, scale="mean")
    acc = _accuracy(L, x, y).reshape(T, 3).mean(1)
    rows = []
    for view in views:
        if view == "aligned":
            V = [torch.cat(parts) for parts in zip(*[align_to_first([W[3 * t:3 * t + 3] for W in L], x[:n_probe],
                                                                     n_fixed=tr.n_fixed) for t in range(T)])]
        elif view == "none":
            V = L
        else:
            raise ValueError(f"unknown view {view!r}: choose 'none' or 'aligned'")
        lv = losses_of(V, x, y, loss_fn, scale="mean")            # aligning must not change them
        gaps = jensen_gaps(V, x, y, loss_fn, scale="mean", solution_losses=lv) / zero
        bars = segment_barriers(V, x, y, loss_fn, K=K, scale="mean") / zero
        for t in range(T):
            trip = [W[3 * t:3 * t + 3] for W in V]
            plane = plane_from_solutions(trip, axes="authors", trainable=tr.trainable)
            scores = score_vs_window(plane, x[:n_window], y[:n_window], loss_fn, radii, G=G, scale="mean")
            rows.append({"setting": tr.setting.name, "view": view, "triple": t,
                         "loss_rel": float(losses[3 * t:3 * t + 3].mean()) / zero, "acc": float(acc[t]),
                         **_run_columns(tr, t), "cap": tr.cap, "gap": float(gaps[t]),
                         "barrier": float(bars[t].max()), "extent": float(np.abs(plane.points).max() / plane.unit),
                         "loss_drift": float((lv - losses)[3 * t:3 * t + 3].abs().max()) / zero,
                         **{f"score@{r:g}": s.max for r, s in zip(radii, scores)}})
    return pd.DataFrame(rows)


def sweep_configs(x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *, Is: Sequence[int], widths: Sequence[int],
                  settings: Sequence[Setting], T: int, seed: int, training: Training, views: Sequence[View],
                  radii: Sequence[float], G: int, K: int, n_probe: int, n_window: int | None,
                  device: Device, dtype: torch.dtype, threads: int | None = None) -> list[dict]:
    """The configurations of :func:`sweep`, as :func:`companion.core.fanout.map` takes them: one per (I, batch of
    :func:`blocks` — a protocol and a step cap —), with that batch's settings and T triples inside (batched as they
    train), in the order I, then the authors' batches before ours. Plain values only: a configuration is its own
    key in a store, so it names the data (:func:`companion.core.fanout.data_key` of x, y as given) and the code
    too, and the torch thread count (``threads``, default this process's), which every process then uses for it
    (reductions split by thread: the same count gives the same bits). With one thread a configuration's result
    is the same bits in any process; with more, the plane evaluator's worker threads are not bit-reproducible
    even from one call to the next in one process (``evaluate.evaluate_fast``: window scores differ by ~1e-7
    relative between repeated calls here), and neither then is a rerun or a Dask run."""
    common = {"kind": "landscape_sweep", "widths": [int(w) for w in widths], "T": int(T), "seed": int(seed),
              "training": asdict(training), "views": list(views), "radii": [float(r) for r in radii], "G": int(G),
              "K": int(K), "n_probe": int(n_probe), "n_window": n_window, "device": str(device),
              "dtype": str(dtype).removeprefix("torch."), "loss": f"{loss_fn.__module__}.{loss_fn.__qualname__}",
              "data": fanout.data_key(x, y), "code": fanout.source_key(),
              "threads": int(threads or torch.get_num_threads())}
    return [{**common, "I": int(I), "settings": [asdict(s) for s in block]} for I in Is
            for _, _, block in blocks(settings, I, training)]


def run_config(config: dict, *, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn
               ) -> tuple[pd.DataFrame, dict[str, float], pd.DataFrame]:
    """Train and measure one :func:`sweep_configs` configuration on (x, y) (module-level, so Dask workers can
    run it) with the configuration's torch thread count: the rows of :func:`measure_triples` for each of its
    settings, with column I, the seconds spent training and measuring, and the runs (:func:`runs_table`, with
    column I)."""
    with intra_op_threads(config["threads"]):
        return _run_config(config, x, y, loss_fn)


def _run_config(config: dict, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn
                ) -> tuple[pd.DataFrame, dict[str, float], pd.DataFrame]:
    """The work of :func:`run_config`."""
    dev, dt = torch.device(config["device"]), getattr(torch, config["dtype"])
    x, y = x.to(dev, dt), y.to(dev)
    y = y.to(dt) if y.is_floating_point() else y
    I = config["I"]
    t0 = time.perf_counter()
    trained = train_triples(x, y, loss_fn, I=I, widths=config["widths"], settings=[Setting(**s) for s in config["settings"]],
                            T=config["T"], seed=config["seed"], training=Training(**config["training"]), device=dev,
                            dtype=dt)
    t1 = time.perf_counter()
    frames = [measure_triples(tr, y, loss_fn, views=config["views"], radii=config["radii"], G=config["G"], K=config["K"],
                              n_probe=config["n_probe"], n_window=config["n_window"]).assign(I=I) for tr in trained]
    runs = pd.concat([runs_table(tr, y, loss_fn).assign(I=I) for tr in trained], ignore_index=True)
    return pd.concat(frames, ignore_index=True), {"train": t1 - t0, "measure": time.perf_counter() - t1}, runs


def sweep(x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *, Is: Sequence[int], widths: Sequence[int],
          settings: Sequence[Setting], T: int, seed: int, training: Training, views: Sequence[View],
          radii: Sequence[float], G: int, K: int = 21, n_probe: int = 500, n_window: int | None = None,
          device: Device = "cpu", dtype: torch.dtype = torch.float32, progress: Callable | None = None,
          scheduler: str | None = None, store: str | Path | None = None, threads: int | None = None
          ) -> tuple[pd.DataFrame, dict[str, float], pd.DataFrame]:
    """Train and measure every (I, setting, triple); returns (one row per I, setting, view, triple — see
    :func:`measure_triples` —, the seconds spent training and measuring, summed over configurations, and one
    row per run — :func:`runs_table`, with column I).

    Each (I, batch) is one configuration of :func:`companion.core.fanout.map` (:func:`sweep_configs`): here one
    after the other by default, on Dask with ``scheduler``, and with ``store`` a folder where each result is
    written as it finishes (a rerun loads those). ``threads``: the torch thread count every configuration runs
    with (default this process's, divided among the N workers of ``local:N``, at least 1). ``progress``: a wrapper
    ``progress(iterable, desc, total)`` for the local loop over configurations."""
    if T < 2:
        raise ValueError(f"need at least 2 seed triples for an interval, got T = {T}")
    if not settings or not Is:
        raise ValueError("give at least one setting and one width I")
    for v in views:
        if v not in ("none", "aligned"):
            raise ValueError(f"unknown view {v!r}: choose 'none' or 'aligned'")
    if training.Is_fixed is not None and not set(training.Is_fixed) <= set(Is):
        raise ValueError(f"Is_fixed {list(training.Is_fixed)} must be among the widths I = {list(Is)}")
    sched = fanout.resolve_scheduler(scheduler)
    if threads is None and sched is not None and sched.startswith("local:"):      # N workers share this process's cores
        threads = max(1, torch.get_num_threads() // int(sched.split(":", 1)[1]))
    x = x.to("cpu", dtype)
    y = y.to("cpu", dtype) if y.is_floating_point() else y.to("cpu")
    configs = sweep_configs(x, y, loss_fn, Is=Is, widths=widths, settings=settings, T=T, seed=seed, training=training,
                            views=views, radii=radii, G=G, K=K, n_probe=n_probe, n_window=n_window, device=device,
                            dtype=dtype, threads=threads)
    parts = fanout.map(partial(run_config, x=x, y=y, loss_fn=loss_fn), configs, scheduler=scheduler, store=store,
                       progress=(lambda it: progress(it, "I × batch", len(configs))) if progress else None)
    return (pd.concat([f for f, _, _ in parts], ignore_index=True),
            {k: sum(t[k] for _, t, _ in parts) for k in ("train", "measure")},
            pd.concat([r for _, _, r in parts], ignore_index=True))


def summarise(rows: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per (I, setting, view): mean and Student-t interval over triples of every measure (columns
    ``M``, ``M_lo``, ``M_hi``)."""
    cols = [c for c in rows.columns if c in MEASURES or c.startswith("score@") or c in RUN_COLUMNS]
    out = []
    for (I, setting, view), g in rows.groupby(["I", "setting", "view"], sort=False):
        rec = {"I": I, "setting": setting, "view": view, "triples": len(g)}
        for c in cols:
            m, lo, hi = mean_interval(g[c].to_numpy(), confidence)
            rec.update({c: float(m), f"{c}_lo": float(lo), f"{c}_hi": float(hi)})
        out.append(rec)
    return pd.DataFrame(out)


@dataclass(frozen=True)
class Explanations:
    """Which explanation of P1's landscape pictures the sweep supports, by the fixed rules of :func:`explain`."""

    a: bool                 # P1 right: flat at the widest I under every setting (as trained)
    b: bool                 # zoom: every well-trained setting keeps a barrier at the widest I while its score falls with the window
    c: bool                 # collapse: flat cells exist and every one of them is near the zero function
    d: bool                 # symmetry: every well-trained setting is flat aligned, not flat as trained, at the widest I
    flat: list[tuple[int, str]]          # (I, setting) flat as trained
    flat_trained: list[tuple[int, str]]  # ... of which well trained
    trained_at_max: list[str]            # settings well trained at the widest I


def explain(summary: pd.DataFrame, *, near_zero: float, collapse: float) -> Explanations:
    """Apply the rules, on :func:`summarise`'s intervals. A cell (I, setting, view) is *flat* when the upper
    ends of its gap and barrier intervals are ≤ ``near_zero`` (window-independent "convex-looking"), *not
    flat* when the lower end of either is > ``near_zero``; *well trained* when the upper end of its loss (÷ zero
    loss) is < ``collapse``, *collapsed* when the lower end is ≥ ``collapse``. Scores: the smallest and
    largest window radius present. The rules on "the widest I" read the settings run there (a setting trained
    at narrower widths only, as the fixed rate may be, does not enter them)."""
    flat = lambda r: r["gap_hi"] <= near_zero and r["barrier_hi"] <= near_zero
    not_flat = lambda r: r["gap_lo"] > near_zero or r["barrier_lo"] > near_zero
    radii = sorted(float(c[6:]) for c in summary.columns if c.startswith("score@") and not c.endswith(("_lo", "_hi")))
    small, large = f"score@{radii[0]:g}", f"score@{radii[-1]:g}"
    I_max = summary.I.max()
    recs = summary.to_dict("records")
    none = [r for r in recs if r["view"] == "none"]
    aligned = {r["setting"]: r for r in recs if r["view"] == "aligned" and r["I"] == I_max}
    top = [r for r in none if r["I"] == I_max]
    trained = [r for r in top if r["loss_rel_hi"] < collapse]
    flats = [r for r in none if flat(r)]
    a = bool(top) and all(flat(r) for r in top)
    b = bool(trained) and all(r["barrier_lo"] > near_zero and r[large + "_hi"] < r[small + "_lo"] for r in trained)
    c = bool(flats) and all(r["loss_rel_lo"] >= collapse for r in flats)
    d = bool(trained) and all(r["setting"] in aligned and not_flat(r) and flat(aligned[r["setting"]]) for r in trained)
    return Explanations(a=a, b=b, c=c, d=d, flat=[(int(r["I"]), r["setting"]) for r in flats],
                        flat_trained=[(int(r["I"]), r["setting"]) for r in flats if r["loss_rel_hi"] < collapse],
                        trained_at_max=[r["setting"] for r in trained])


def sweep_rows(sets: Mapping[str, tuple], rows: Sequence[str], *, confidence: float,
               Is: Mapping[str, Sequence[int]], training: Training | Mapping[str, Training], **sweep_args: Any
               ) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], float, dict[str, float], dict[str, pd.DataFrame]]:
    """:func:`sweep` on each Figure 4 row in ``rows`` at its widths ``Is[row]`` (``sets[row]`` = (x_train,
    y_train, …) from :func:`companion.landscapes.pipeline.fig4_data`; layer widths from :data:`FIG4_ROWS`;
    10-class hinge loss; ``training`` one :class:`Training` for every row or one per row (its own step caps);
    the other arguments ``sweep_args`` as :func:`sweep` takes them). Returns (per row,
    :func:`summarise` at ``confidence``; per row, :func:`sweep`'s per-triple rows, for :func:`findings`; the
    largest ``loss_drift`` of any triple, -inf without rows; the seconds spent training and measuring, summed
    over rows; per row, the runs)."""
    from companion.training.losses import multiclass_hinge

    per_row = training if isinstance(training, Mapping) else {k: training for k in rows}
    missing = [k for k in rows if k not in Is or k not in per_row]
    if missing:
        raise ValueError(f"no widths I or no training given for rows {missing}")
    summaries, per_triple, runs, drift, secs = {}, {}, {}, -np.inf, {"train": 0.0, "measure": 0.0}
    for key in rows:
        x_tr, y_tr = sets[key][:2]
        r_rows, r_secs, runs[key] = sweep(x_tr, y_tr, multiclass_hinge, Is=Is[key], widths=FIG4_ROWS[key][1],
                                          training=per_row[key], **sweep_args)
        summaries[key], drift = summarise(r_rows, confidence), max(drift, float(r_rows.loss_drift.max()))
        per_triple[key] = r_rows
        secs = {k: secs[k] + r_secs[k] for k in secs}
    return summaries, per_triple, drift, secs, runs


def shown(radii: Sequence[float]) -> list[str]:
    """The measures the chapter shows, in order: :data:`MEASURES` and the score at each window radius."""
    return list(MEASURES) + [f"score@{r:g}" for r in radii]


def table(summary: pd.DataFrame | Mapping[str, pd.DataFrame], radii: Sequence[float]) -> pd.DataFrame:
    """:func:`summarise`'s rows for display, one per (I, setting, view): the loss, gap and barrier as
    "mean [low, high]", the other measures (:func:`shown`) as means, to 3 decimals. Given Figure 4 rows' summaries
    (row key → summary), one table with the row's name (:data:`FIG4_ROWS`) as the first index level."""
    if isinstance(summary, Mapping):
        summary = pd.concat([s.assign(row=FIG4_ROWS[k][0]) for k, s in summary.items()], ignore_index=True)
    interval = ("gap", "barrier", "loss_rel")
    cell = lambda r, c: f"{r[c]:.3f} [{r[c + '_lo']:.3f}, {r[c + '_hi']:.3f}]" if c in interval else f"{r[c]:.3f}"
    keys = [k for k in ("row", "I", "setting", "view") if k in summary.columns]
    return pd.DataFrame([{**{k: r[k] for k in keys}, **{c: cell(r, c) for c in shown(radii)}}
                         for r in summary.to_dict("records")]).set_index(keys)


def measures_finite(summaries: Sequence[pd.DataFrame], radii: Sequence[float]) -> bool:
    """Whether every shown measure (:func:`shown`), with its interval ends, is finite in all ``summaries``."""
    every = pd.concat(list(summaries))
    cols = [c for c in every.columns if any(c == m or c.startswith(m + "_") for m in shown(radii))]
    return bool(np.isfinite(every[cols].to_numpy(float)).all())


def by_width(rows: pd.DataFrame, measure: str, setting: str, view: View) -> tuple[np.ndarray, np.ndarray]:
    """The per-triple values of ``measure`` for one setting (its :attr:`Setting.name`) and view in
    :func:`sweep`'s rows (before :func:`summarise`): (Is (W,), increasing; values (T, W), row t = seed triple t,
    whose initial networks have the same seeds at every I). A (triple, I) missing from the rows is NaN."""
    g = rows[(rows.setting == setting) & (rows.view == view)]
    if g.empty:
        raise ValueError(f"no rows for setting {setting!r}, view {view!r}")
    table = g.pivot(index="triple", columns="I", values=measure).sort_index().sort_index(axis=1)
    return table.columns.to_numpy(), table.to_numpy(float)


#: the measures judged, with their words: the segment barrier is ≥ 0 (bootstrap interval over triples),
#: the Jensen gap can be negative (Student-t interval over triples)
JUDGED = {"barrier": "largest segment barrier", "gap": "Jensen gap at the centre"}
VIEW_WORDS = {"none": "as trained", "aligned": "after alignment"}


def run_record(rows: pd.DataFrame, setting: str, Is: Sequence[int]) -> tuple[float, dict[str, float]]:
    """The runs behind a finding: (the share of them converged; their steps taken — ``mean``, ``min``,
    ``max`` — and the step cap ``cap``), over the triples of ``setting`` at the widths ``Is`` in
    :func:`sweep`'s per-triple rows (every triple has 3 runs, so the share is the mean of the triples' shares)."""
    g = rows[(rows.setting == setting) & (rows.view == rows.view.iloc[0]) & rows.I.isin(list(Is))]
    if g.empty:
        raise ValueError(f"no rows for setting {setting!r} at I = {list(Is)}")
    return float(g.converged.mean()), {"mean": float(g.steps.mean()), "min": float(g.steps_min.min()),
                                       "max": float(g.steps_max.max()), "cap": float(g.cap.max())}


def findings(per_triple: Mapping[str, pd.DataFrame], settings: Mapping[str, Sequence[Setting]], *, seed: int,
             confidence: float = 0.95, views: Sequence[View] = ("none", "aligned"),
             trained_at: float | None = None) -> list[dict[str, Any]]:
    """The findings on P1's Figures 1 and 4, as keyword arguments of ``Claims.judge``, except that ``gate`` is
    the gate's measured value (the training loss ÷ the zero function's loss), for the chapter to turn into a
    gate with ``claims.gate_from(spec["statement"], spec["gate"])`` (this package does not import the book).

    ``per_triple``: per row, :func:`sweep`'s per-triple rows; the key ``"synthetic"`` is Figure 1's row
    (statement ``P1.fig1``), every other key a Figure 4 row of :data:`FIG4_ROWS` (``P1.fig4``). ``settings``:
    per row, the settings swept. Per row, setting, view and measure (:data:`JUDGED`), seed triples as the
    replicates (never the pairs of one triple):

    - **endpoint** (``{prefix}_endpoint_{measure}_{setting}[_aligned]``): the measure at the widest I, mean over
      triples; the barrier (≥ 0) with a percentile-bootstrap interval over triples (never below 0; seeded by
      ``seeds.spawn(seed, "landscape_verdict", "bootstrap", row, setting, view)``), the Jensen gap (which can
      be negative) with a Student-t interval; gate: the setting's mean training loss at that I;
    - **trend** (``{prefix}_trend_…``, only with two widths or more): the slope of the measure against log10 I,
      one ordinary-least-squares slope per triple and a Student-t interval over triples
      (:func:`companion.core.stats.log_slope`); gate: the worst (largest) of the setting's mean training
      losses across the widths, so a setting that did not train at some width does not vote on the trend.
      With ``trained_at`` (the registered gate's value, "at most"), the slope is taken over the widths where
      the setting's mean training loss is at most that (say, all but the narrowest, which cannot fit the
      data), when there are at least two, and the description names them; else over every width.

    Both are judged ``side="below"`` (endpoint: at most the registered "near zero"; trend: a slope below 0),
    and carry ``converged`` and ``steps`` (:func:`run_record`: the endpoint's runs at the widest I, the trend's
    at every width).
    ``primary``: per statement part, the barrier of the first row's :attr:`Setting.is_primary` setting, as
    trained — the authors' own protocol (the nearest we have to what produced P1's figures), at no weight decay
    (a decay pulls wide networks towards the zero function: explanation (c)) and at their fixed rate (rate·I is
    our variant), on P1's plane (the solutions as trained; aligning is our addition); the barrier because it is
    ≥ 0 and 0 only where the loss is convex along the segments, while a Jensen gap ≤ 0 does not rule out a
    bump elsewhere."""
    out: list[dict[str, Any]] = []
    first = {}
    for key in per_triple:
        first.setdefault("P1.fig1" if key == "synthetic" else "P1.fig4", key)
    for key, rows in per_triple.items():
        statement = "P1.fig1" if key == "synthetic" else "P1.fig4"
        prefix, what = (("fig1", "P1 Fig 1 (synthetic)") if key == "synthetic"
                        else (f"fig4_{key}", f"P1 Fig 4 ({FIG4_ROWS[key][0]})"))
        for st in settings[key]:
            Is, loss = by_width(rows, "loss_rel", st.name, "none")
            loss_by_I = np.nanmean(loss, axis=0)                              # (W,) the setting's mean per width
            conv_top, steps_top = run_record(rows, st.name, Is[-1:])
            use = (loss_by_I <= trained_at) if trained_at is not None else np.ones(len(Is), bool)
            use = use if use.sum() >= 2 else np.ones(len(Is), bool)            # the widths the trend is taken over
            conv_all, steps_all = run_record(rows, st.name, Is[use])
            for view in views:
                tail = "" if view == "none" else f"_{view}"
                for m, label in JUDGED.items():
                    _, v = by_width(rows, m, st.name, view)
                    top = v[:, -1][np.isfinite(v[:, -1])]
                    if m == "barrier":
                        boot = seeds.spawn(seed, "landscape_verdict", "bootstrap", key, st.slug, view)
                        est, lo, hi = bootstrap_mean_interval(top, confidence=confidence, seed=boot)
                        how = "percentile bootstrap over triples"
                    else:
                        est, lo, hi = mean_interval(top, confidence)
                        how = "Student-t interval over triples"
                    primary = bool(first[statement] == key and st.is_primary and view == "none" and m == "barrier")
                    if top.size == 0:                                         # no finite value at the widest I
                        continue
                    out.append(dict(
                        id=f"{prefix}_endpoint_{m}_{st.slug}{tail}", statement=f"{statement}:endpoint",
                        description=f"{what}, {st.name}, {VIEW_WORDS[view]}: {label} ÷ zero-function loss at the "
                        f"widest I = {int(Is[-1]):,} ({len(top)} seed triples, {confidence:.0%} {how}); training "
                        f"loss {loss_by_I[-1]:.2f} of the zero function's; {conv_top:.0%} of the runs converged",
                        estimate=float(est), low=float(lo), high=float(hi), side="below", gate=float(loss_by_I[-1]),
                        replicates=len(top), primary=primary, votes=view == "none", converged=conv_top,
                        steps=steps_top))
                    slope, s_lo, s_hi, n = log_slope(Is[use], v[:, use], base=10, confidence=confidence) if (
                        use.sum() > 1) else (np.nan, np.nan, np.nan, 0)
                    if n == 0:                                                # one width, or no complete triple
                        continue
                    out.append(dict(
                        id=f"{prefix}_trend_{m}_{st.slug}{tail}", statement=f"{statement}:trend",
                        description=f"{what}, {st.name}, {VIEW_WORDS[view]}: slope of the {label} (÷ zero-function "
                        f"loss) per decade of I over I = {', '.join(f'{int(i):,}' for i in Is[use])}"
                        f"{'' if use.all() else ' (the widths where it trained)'} (one slope per seed "
                        f"triple, {n} triples, {confidence:.0%} Student-t interval); worst training loss across "
                        f"those widths {np.max(loss_by_I[use]):.2f} of the zero function's; {conv_all:.0%} of the "
                        "runs converged", estimate=slope, low=s_lo, high=s_hi, side="below",
                        gate=float(np.max(loss_by_I[use])), replicates=n,
                        primary=primary, votes=view == "none", converged=conv_all, steps=steps_all))
    return out


def convergence_table(per_triple: Mapping[str, pd.DataFrame], *, gate: float) -> pd.DataFrame:
    """Per (row, setting) of :func:`sweep`'s per-triple rows (``per_triple``: row key → rows): how many widths
    I it ran and at how many it trained (mean training loss ≤ ``gate`` of the zero function's, the registered
    gate), the share of its runs converged at every width (``converged``) and at the widths where it trained
    (``converged_trained``, NaN where it trained at none: it cannot train, and never votes), and the steps its
    runs took (mean, most) against the cap."""
    out = []
    for key, rows in per_triple.items():
        g0 = rows[rows.view == rows.view.iloc[0]]
        for setting, g in g0.groupby("setting", sort=False):
            by_I = g.groupby("I")
            trained_I = [I for I, q in by_I if q.loss_rel.mean() <= gate]
            t = g[g.I.isin(trained_I)]
            out.append({"row": key, "setting": setting, "widths": by_I.ngroups, "trained widths": len(trained_I),
                        "converged": float(g.converged.mean()),
                        "converged_trained": float(t.converged.mean()) if len(t) else np.nan,
                        "steps mean": float(g.steps.mean()), "steps max": float(g.steps_max.max()),
                        "cap": float(g.cap.max())})
    return pd.DataFrame(out)


_FINDING_ID = re.compile(r"^(fig1|fig4_(?:cifar_deep|cifar|mnist))_(trend|endpoint)_(barrier|gap)_(.+?)(_aligned)?$")


def findings_grid(recorded: Sequence[Any]) -> pd.DataFrame:
    """:func:`findings` as judged (objects with the fields of ``companion.book.claims.Claim``), one line per
    (row, setting, part, measure), columns as trained and aligned: "estimate [low, high] outcome" (3 decimals;
    outcome *untrained* where the gate closed), and the share of the runs converged (as trained)."""
    cells: dict[tuple, dict[str, str]] = {}
    for c in recorded:
        m = _FINDING_ID.match(c.id)
        if m is None:
            continue
        prefix, part, measure, slug, aligned = m.groups()
        row = "synthetic" if prefix == "fig1" else prefix[5:]
        out = "untrained" if c.gate == "untrained" else c.outcome
        num = lambda v: "∞" if v is None else f"{v:.3f}"
        cell = cells.setdefault((row, slug, part, measure), {})
        cell["aligned" if aligned else "as trained"] = f"{c.measured:.3f} [{num(c.low)}, {num(c.high)}] {out}"
        if not aligned:
            cell["converged"] = "—" if c.converged is None else f"{c.converged:.0%}"
    index = pd.MultiIndex.from_tuples(list(cells), names=["row", "setting", "part", "measure"])
    return pd.DataFrame(list(cells.values()), index=index)


#: the statement parts :func:`findings` judges, with their names on the page
PARTS = {"P1.fig1:endpoint": "fig1_endpoint", "P1.fig1:trend": "fig1_trend", "P1.fig4:endpoint": "fig4_endpoint",
         "P1.fig4:trend": "fig4_trend"}


def gate_words(finding: Any) -> str:
    """A finding's gate with its measured training loss ÷ zero loss, e.g. "untrained (0.99)"."""
    m = (finding.gate_detail or {}).get("measured")
    return f"{finding.gate} ({m:.2f})" if m is not None else str(finding.gate)


def primary_words(recorded: Sequence[Any]) -> dict[str, Any]:
    """For the page, per part of :data:`PARTS` (named ``fig1_endpoint`` …): the primary finding's estimate,
    interval ends, outcome and gate (``{part}_est``, ``_lo``, ``_hi``, ``_outcome``, ``_gate`` as
    :func:`gate_words`; NaN and "not run" without one) and the outcomes of the part's trained findings (``{part}_tally``, e.g. "3 reproduced, 1
    inconclusive of 4 trained"). ``recorded``: the chapter's findings (objects with the fields of
    ``companion.book.claims.Claim``)."""
    out: dict[str, Any] = {}
    for statement, name in PARTS.items():
        mine = [c for c in recorded if c.statement == statement]
        p = next((c for c in mine if c.primary), None)
        num = lambda v: np.nan if p is None or v is None else float(v)          # an infinite end is stored as None
        out.update({f"{name}_est": num(p and p.measured), f"{name}_lo": num(p and p.low), f"{name}_hi": num(p and p.high),
                    f"{name}_outcome": p.outcome if p else "not run", f"{name}_gate": gate_words(p) if p else "not run"})
        trained = [c.outcome for c in mine if c.gate == "trained"]
        counts = ", ".join(f"{trained.count(o)} {o}" for o in ("reproduced", "not reproduced", "inconclusive")
                           if trained.count(o))
        out[f"{name}_tally"] = f"{counts} of {len(trained)} trained" if trained else f"none of {len(mine)} trained"
    return out


def fixed_rate_words(training: Training, Is: Sequence[int]) -> dict[str, str]:
    """The page's words on the authors' fixed rate among the widths ``Is``: ``fixed_Is`` (the widths it runs
    at), ``fixed_widest`` (the widest of them; "none"), ``fixed_caps`` (its step cap at each, :meth:`Training.cap`)
    and ``fixed_skipped``, a sentence on the widths it is not run at — the steps its cap rule would give it there
    and why a run costs ∝ I² — or that it runs at every width."""
    fixed = Setting("authors")
    run = [int(I) for I in Is if training.runs_at(fixed, I)]
    skip = [int(I) for I in Is if not training.runs_at(fixed, I)]
    listed = lambda widths, f: ", ".join(f(I) for I in widths)                   # noqa: E731
    cap = lambda I: f"{training.cap(fixed, I):,}"                                  # noqa: E731
    sentence = "The fixed rate runs at every width."
    if skip:
        widest = f" (at most {cap(max(run))} at I = {max(run):,}, the widest run here)" if run else ""
        sentence = (f"At I = {listed(skip, '{:,}'.format)} the fixed rate is not run at this preset: with f = the mean "
                    f"of I branches each unit learns at rate {training.lr:g}/I, so the authors' rule ends a run only "
                    f"after a number of steps that grows like I (the cap is max({training.steps:,}, "
                    f"{training.steps_fixed_per_I:,}·I)), and each step costs ∝ I: a run costs ∝ I². There it would "
                    f"need up to {listed(skip, cap)} steps a run{widest}; the paper preset runs them.")
    return {"fixed_Is": listed(run, "{:,}".format), "fixed_widest": f"{max(run):,}" if run else "none",
            "fixed_caps": listed(run, cap), "fixed_skipped": sentence}


def word(flag: bool) -> str:
    """A rule's outcome in words."""
    return "supported" if flag else "not supported"


def readings(ex: Explanations, real: Mapping[str, Explanations]) -> dict[str, str]:
    """The page's sentences on :func:`explain`'s outcomes: ``reading`` (the synthetic set's supported
    explanations in words), ``a``…``d`` (each rule's outcome), ``real`` (Figure 4's rows, one clause each),
    ``trained_max`` and ``flat_list`` (the well-trained settings at the widest I; the flat cells)."""
    reading = " ".join(text for flag, text in (
        (ex.a, "Every setting's plane is flat at the widest I."),
        (ex.b, "The well-trained settings keep a barrier at the widest I while their score falls as the window widens."),
        (ex.c, "Every flat plane belongs to solutions near the zero function."),
        (ex.d, "Every well-trained setting's barrier at the widest I vanishes once the units are aligned.")) if flag) \
        or "No explanation's rule holds on the synthetic set."
    real_words = "; ".join(f"{FIG4_ROWS[k][0]}: (a) {word(e.a)}, (b) {word(e.b)}, (c) {word(e.c)}, (d) {word(e.d)}"
                           for k, e in real.items()) or "no rows run"
    return {"reading": reading, "a": word(ex.a), "b": word(ex.b), "c": word(ex.c), "d": word(ex.d), "real": real_words,
            "trained_max": ", ".join(ex.trained_at_max) or "none",
            "flat_list": ", ".join(f"I = {I}: {s}" for I, s in ex.flat) or "none"}


def write_summaries(folder: str | Path, summaries: Mapping[str, pd.DataFrame], *,
                    prefix: str = "landscape_verdict") -> list[Path]:
    """Write each summary as CSV to ``folder/{prefix}.{name}.csv``, atomically; returns the paths."""
    return [atomic_write_text(Path(folder) / f"{prefix}.{name}.csv", s.to_csv(index=False))
            for name, s in summaries.items()]
