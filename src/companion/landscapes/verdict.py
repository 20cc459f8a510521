"""The decisive landscape sweep: many triples of solutions per width I and training setting, measured by
window-independent quantities, to decide what P1's landscape pictures (Figures 1 and 4) show.

A *setting* is a training protocol plus its free arguments:

- ``"authors"``: the authors' ``fully_connected.py`` — nn.Linear branches with biases and PyTorch's
  default initialisation (:func:`companion.training.nets.init_default`), f = mean of branches, minibatch SGD with
  coupled weight decay at a fixed rate (or the rate × I), their rate-cut / stopping rule on minibatch losses;
- ``"ours"``: the book's earlier protocol — no biases, N(0, 1/fan-in) weights with O(1) output weights,
  full-batch gradient descent at rate × I, cut when the full loss rises (``rule="check_full"``).

All settings of one protocol, and all T triples, are trained as one batch of S = settings·3T networks
(rates and decays per network; the same initial networks and batch orders across settings). Each (I,
protocol) is one configuration of :func:`companion.core.fanout.map`: local by default, on Dask when a scheduler is
given, resumable from a store. Every triple is
then measured in two views (as trained; aligned by :mod:`companion.landscapes.symmetry`): its training loss and
accuracy, the Jensen gap at the centre and the three segment barriers (both ÷ the zero function's loss), the
solutions' extent in units of ‖θ₃‖, and the range-normalised score at each window radius (units of ‖θ₃‖,
the authors' plane).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from companion.landscapes.pipeline import FIG4_ROWS
from companion.landscapes.measures import jensen_gaps, losses_of, score_vs_window, segment_barriers, zero_loss
from companion.landscapes.plane import plane_from_solutions
from companion.core import fanout as fanout
from companion.core import seeds
from companion.core.devices import Device
from companion.core.files import atomic_write_text
from companion.training.losses import LossFn
from companion.training.onehidden import intra_op_threads
from companion.training.nets import Layers, forward, init_branches, init_default, trainable_masks, with_ones
from companion.core.stats import mean_interval
from companion.landscapes.symmetry import align_to_first
from companion.training.train import train_sgd

Protocol = Literal["authors", "ours"]
LrScaling = Literal["fixed", "times_I"]
View = Literal["none", "aligned"]
MEASURES = ("loss_rel", "acc", "gap", "barrier", "extent")


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


@dataclass
class Trained:
    """3T networks (triples 3t, 3t+1, 3t+2) of one setting, ready to measure."""

    setting: Setting
    layers: Layers
    x: torch.Tensor                 # (n, d) or (n, d + 1) with the bias column: what the layers take
    trainable: Layers | None
    n_fixed: int
    steps: np.ndarray               # (3T,)
    seconds: float                  # training time of the whole protocol batch this setting was part of


def train_triples(x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *, I: int, widths: Sequence[int],
                  settings: Sequence[Setting], T: int, seed: int, training: Training, device: Device = "cpu",
                  dtype: torch.dtype = torch.float32, progress: Callable | None = None) -> list[Trained]:
    """Train T triples per setting at width I: one batch per protocol (settings and triples batched).
    Triple t, member k starts from seed ``seed·10 000 + 3t + k`` (seed layout ``"sweep_init"``) in every setting of a protocol."""
    inits = seeds.derive_many(seed, "sweep_init", "init", 3 * T)
    out = []
    for protocol in ("authors", "ours"):
        block = [s for s in settings if s.protocol == protocol]
        if not block:
            continue
        A = len(block)
        if protocol == "authors":
            L0 = init_default(A * 3 * T, I, widths, seed=inits * A, device=device, dtype=dtype)
            xb, masks, n_fixed = with_ones(x), trainable_masks(L0), 1
            lr = [training.lr * (I if s.lr_scaling == "times_I" else 1) for s in block for _ in inits]
            wd = [s.weight_decay for s in block for _ in inits]
            r = train_sgd(L0, xb, y, loss_fn, steps=training.steps, lr=lr, seeds=inits * A, weight_decay=wd,
                          batch_size=training.batch_size, check_every=training.check_every, trainable=masks,
                          rule="authors", scale="mean", progress=progress)
        else:
            L0 = init_branches(3 * T, I, widths, seed=inits, device=device, dtype=dtype, parametrization="mean")
            xb, masks, n_fixed = x, None, 0
            r = train_sgd(L0, xb, y, loss_fn, steps=training.steps_ours, lr=training.lr_ours * I, seeds=inits,
                          batch_size=training.batch_size_ours, check_every=training.check_every, scale="mean",
                          progress=progress)
        for a, s in enumerate(block):
            sl = slice(3 * T * a, 3 * T * (a + 1))
            out.append(Trained(s, [W[sl] for W in r.layers], xb, masks, n_fixed, r.steps[sl].cpu().numpy(), r.seconds))
    return out


def _accuracy(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        f = forward(layers, x, scale="mean")
        pred = f.argmax(-1) if f.shape[-1] > 1 else torch.where(f[..., 0] >= 0, 1.0, -1.0).to(y.dtype)
        return (pred == y).double().mean(-1).cpu().numpy()


def measure_triples(tr: Trained, y: torch.Tensor, loss_fn: LossFn, *, views: Sequence[View], radii: Sequence[float],
                    G: int, K: int, n_probe: int, n_window: int | None = None) -> pd.DataFrame:
    """One row per (view, triple): mean training loss (÷ zero loss) and accuracy of its 3 solutions, how much
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
                         "steps": float(tr.steps[3 * t:3 * t + 3].mean()), "gap": float(gaps[t]),
                         "barrier": float(bars[t].max()), "extent": float(np.abs(plane.points).max() / plane.unit),
                         "loss_drift": float((lv - losses)[3 * t:3 * t + 3].abs().max()) / zero,
                         **{f"score@{r:g}": s.max for r, s in zip(radii, scores)}})
    return pd.DataFrame(rows)


def sweep_configs(x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *, Is: Sequence[int], widths: Sequence[int],
                  settings: Sequence[Setting], T: int, seed: int, training: Training, views: Sequence[View],
                  radii: Sequence[float], G: int, K: int, n_probe: int, n_window: int | None,
                  device: Device, dtype: torch.dtype) -> list[dict]:
    """The configurations of :func:`sweep`, as :func:`companion.core.fanout.map` takes them: one per (I, protocol),
    with all that protocol's settings and T triples inside (batched as they train), in the order I, then the
    authors' protocol before ours. Plain values only: a configuration is its own key in a store, so it names
    the data (:func:`companion.core.fanout.data_key` of x, y as given) and the code too, and the torch thread count
    of this process, which every process then uses for it (reductions split by thread: the same count gives
    the same bits). With one thread a configuration's result is the same bits in any process; with more, the
    plane evaluator's worker threads are not bit-reproducible even from one call to the next in one process
    (``evaluate.evaluate_fast``: window scores differ by ~1e-7 relative between repeated calls here), and
    neither then is a rerun or a Dask run."""
    common = {"kind": "landscape_sweep", "widths": [int(w) for w in widths], "T": int(T), "seed": int(seed),
              "training": asdict(training), "views": list(views), "radii": [float(r) for r in radii], "G": int(G),
              "K": int(K), "n_probe": int(n_probe), "n_window": n_window, "device": str(device),
              "dtype": str(dtype).removeprefix("torch."), "loss": f"{loss_fn.__module__}.{loss_fn.__qualname__}",
              "data": fanout.data_key(x, y), "code": fanout.source_key(), "threads": torch.get_num_threads()}
    return [{**common, "I": int(I), "settings": [asdict(s) for s in settings if s.protocol == protocol]}
            for I in Is for protocol in ("authors", "ours") if any(s.protocol == protocol for s in settings)]


def run_config(config: dict, *, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> tuple[pd.DataFrame, dict[str, float]]:
    """Train and measure one :func:`sweep_configs` configuration on (x, y) (module-level, so Dask workers can
    run it) with the configuration's torch thread count: the rows of :func:`measure_triples` for each of its
    settings, with column I, and the seconds spent training and measuring."""
    with intra_op_threads(config["threads"]):
        return _run_config(config, x, y, loss_fn)


def _run_config(config: dict, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> tuple[pd.DataFrame, dict[str, float]]:
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
    return pd.concat(frames, ignore_index=True), {"train": t1 - t0, "measure": time.perf_counter() - t1}


def sweep(x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *, Is: Sequence[int], widths: Sequence[int],
          settings: Sequence[Setting], T: int, seed: int, training: Training, views: Sequence[View],
          radii: Sequence[float], G: int, K: int = 21, n_probe: int = 500, n_window: int | None = None,
          device: Device = "cpu", dtype: torch.dtype = torch.float32, progress: Callable | None = None,
          scheduler: str | None = None, store: str | Path | None = None) -> tuple[pd.DataFrame, dict[str, float]]:
    """Train and measure every (I, setting, triple); returns (one row per I, setting, view, triple — see
    :func:`measure_triples` — and the seconds spent training and measuring, summed over configurations).

    Each (I, protocol) is one configuration of :func:`companion.core.fanout.map` (:func:`sweep_configs`): here one
    after the other by default, on Dask with ``scheduler``, and with ``store`` a folder where each result is
    written as it finishes (a rerun loads those). ``progress``: a wrapper ``progress(iterable, desc, total)``
    for the local loop over configurations."""
    if T < 2:
        raise ValueError(f"need at least 2 seed triples for an interval, got T = {T}")
    if not settings or not Is:
        raise ValueError("give at least one setting and one width I")
    for v in views:
        if v not in ("none", "aligned"):
            raise ValueError(f"unknown view {v!r}: choose 'none' or 'aligned'")
    x = x.to("cpu", dtype)
    y = y.to("cpu", dtype) if y.is_floating_point() else y.to("cpu")
    configs = sweep_configs(x, y, loss_fn, Is=Is, widths=widths, settings=settings, T=T, seed=seed, training=training,
                            views=views, radii=radii, G=G, K=K, n_probe=n_probe, n_window=n_window, device=device,
                            dtype=dtype)
    parts = fanout.map(partial(run_config, x=x, y=y, loss_fn=loss_fn), configs, scheduler=scheduler, store=store,
                       progress=(lambda it: progress(it, "I × protocol", len(configs))) if progress else None)
    return (pd.concat([f for f, _ in parts], ignore_index=True),
            {k: sum(t[k] for _, t in parts) for k in ("train", "measure")})


def summarise(rows: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per (I, setting, view): mean and Student-t interval over triples of every measure (columns
    ``M``, ``M_lo``, ``M_hi``)."""
    cols = [c for c in rows.columns if c in MEASURES or c.startswith("score@") or c == "steps"]
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
    largest window radius present."""
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


def sweep_rows(sets: Mapping[str, tuple], rows: Sequence[str], *, confidence: float, **sweep_args: Any
               ) -> tuple[dict[str, pd.DataFrame], float, dict[str, float]]:
    """:func:`sweep` on each Figure 4 row in ``rows`` (``sets[row]`` = (x_train, y_train, …) from
    :func:`companion.landscapes.pipeline.fig4_data`; widths from :data:`FIG4_ROWS`; 10-class hinge loss; the
    other arguments ``sweep_args`` as :func:`sweep` takes them). Returns (per row, :func:`summarise` at
    ``confidence``; the largest ``loss_drift`` of any triple, -inf without rows; the seconds spent training and
    measuring, summed over rows)."""
    from companion.training.losses import multiclass_hinge

    summaries, drift, secs = {}, -np.inf, {"train": 0.0, "measure": 0.0}
    for key in rows:
        x_tr, y_tr = sets[key][:2]
        r_rows, r_secs = sweep(x_tr, y_tr, multiclass_hinge, widths=FIG4_ROWS[key][1], **sweep_args)
        summaries[key], drift = summarise(r_rows, confidence), max(drift, float(r_rows.loss_drift.max()))
        secs = {k: secs[k] + r_secs[k] for k in secs}
    return summaries, drift, secs


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


def findings(synthetic: pd.DataFrame, real: Mapping[str, pd.DataFrame], *, settings: Sequence[Setting],
             real_settings: Sequence[Setting], near_zero: float) -> list[dict[str, Any]]:
    """The chapter's findings, as keyword arguments of ``Claims.finding``: at the widest I, as trained, per
    setting (numbered k in its list), the Jensen gap and the largest barrier (÷ zero loss) with their intervals
    over triples, against "near zero" (≤ ``near_zero``); first the synthetic set (ids ``fig1_{gap|barrier}_{k}``),
    then each Figure 4 row of ``real`` (``fig4_{row}_…``, settings ``real_settings``)."""
    parts = [(synthetic, "fig1", "P1 Fig 1 (synthetic)", settings)]
    parts += [(s, f"fig4_{key}", f"P1 Fig 4 ({FIG4_ROWS[key][0]})", real_settings) for key, s in real.items()]
    out = []
    for s, prefix, what, sts in parts:
        I_top = int(s.I.max())
        for k, st in enumerate(sts):
            r = s[(s.I == I_top) & (s.setting == st.name) & (s.view == "none")].iloc[0]
            for m, label in (("gap", "Jensen gap at the centre"), ("barrier", "largest segment barrier")):
                out.append(dict(id=f"{prefix}_{m}_{k}", description=f"{what}, I = {I_top}, {st.name}: {label} ÷ "
                                f"zero-function loss (as trained; {int(r['triples'])} triples; the solutions' training "
                                f"loss is {r['loss_rel']:.2f} of the zero function's)", estimate=r[m], low=r[m + "_lo"],
                                high=r[m + "_hi"], region=(None, near_zero)))
    return out


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
