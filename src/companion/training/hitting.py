"""P1 Table 1's experiment as data: a protocol (teacher, student, optimiser, rule), run for many widths and
seeds with the fast trainer, and the trainer's benchmark against the autograd trainers.

Each (protocol, width) with all its seeds is one configuration of :func:`companion.core.fanout.map`, so the table's
rows fan out to a Dask cluster when one is given, and resume from a store after a lost worker.

A *hit* is a network whose full-data loss is ≤ ``hit_loss`` when it stops (P1 §5.2: "hits the global
minimum up to a small error 1e-5"). The rule's own stop looks at one minibatch; a network it stops on a
minibatch of zero loss need not have reached zero loss on the whole data: :class:`Rates` keeps both counts.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np
import torch

from companion.core import fanout
from companion.core import seeds as seedlib
from companion.core.data import synthetic_teacher
from companion.core.devices import Device
from companion.core.stats import wilson_interval
from companion.training.losses import tau_hinge
from companion.training.onehidden import (Output, compare_with_autograd, init_nets, intra_op_threads, matmul_flops,
                                          train_onehidden)
from companion.training.train import init_padded, train_sequential, train_sgd

#: P1 Table 1: hits out of 100 seeds for 10 … 21 hidden units.
PAPER_HITS: dict[int, int] = dict(zip(range(10, 22), [2, 9, 21, 24, 24, 29, 30, 32, 35, 52, 64, 75]))


@dataclass(frozen=True)
class Protocol:
    """Everything that defines one row of the table. ``batch_size`` ≥ n means full-batch gradient descent."""

    n: int = 1000
    d: int = 10
    teacher_hidden: int = 11
    teacher_weights: Literal["gaussian", "orthonormal"] = "gaussian"
    labels: Literal["sign", "median"] = "sign"
    output: Output = "sum"
    init_scale: float = 1.0
    tau: float = 1.0
    lr: float = 0.1
    batch_size: int = 100
    steps: int = 100_000
    check_every: int = 100
    hit_loss: float = 1e-5

    def vary(self, **change: Any) -> "Protocol":
        """This protocol with some fields changed; an unknown field is an error naming the valid ones."""
        names = {f.name for f in fields(self)}
        bad = set(change) - names
        if bad:
            raise ValueError(f"unknown protocol field(s) {sorted(bad)}: choose from {sorted(names)}")
        return replace(self, **change)

    def describe(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Rates:
    """Per width (W,): ``hits`` (full-data loss ≤ hit_loss), ``batch_hits`` (the rule stopped on a minibatch
    loss < its stop loss: a hit as the rule sees it), ``S`` seeds each, median ``steps`` taken, ``at_cap`` (networks
    the rule did not stop: they ran to the step cap, so their loss may still have been changing), and the work
    ``net_steps`` and ``seconds`` of the whole run."""

    widths: list[int]
    S: int
    hits: np.ndarray
    batch_hits: np.ndarray
    median_steps: np.ndarray
    net_steps: int
    seconds: float
    at_cap: np.ndarray | None = None

    @property
    def at_cap_share(self) -> float:
        """Share of all the row's networks that ran to the step cap (an upper bound on the share still changing
        there: Table 1's training gate); NaN when not recorded."""
        return float("nan") if self.at_cap is None else float(np.sum(self.at_cap) / (self.S * len(self.widths)))

    def interval(self, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Wilson interval of the hitting rate per width."""
        return wilson_interval(self.hits, self.S, confidence)


def width_config(p: Protocol, width: int, S: int, *, seed: int = 0, device: Device = "cpu",
                 dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """One configuration of the table, as :func:`companion.core.fanout.map` takes it: one width under protocol ``p``
    with all its S seeds (a batch dimension inside the configuration). Plain values only: it is its own key in
    a store, so it names the code too (:func:`companion.core.fanout.source_key`)."""
    if S < 1 or width < 1:
        raise ValueError(f"need S ≥ 1 seeds and a width ≥ 1; got S={S}, width={width}")
    return {"kind": "hitting_rate.width", "protocol": p.describe(), "width": int(width), "S": int(S),
            "seed": int(seed), "device": str(device), "dtype": str(dtype).removeprefix("torch."),
            "code": fanout.source_key()}


def run_width(config: Mapping[str, Any]) -> Rates:
    """Train one :func:`width_config` and count its hits (module-level, so Dask workers can run it).

    Network (I, s) is initialised from seed ``derive(seed, "table1_net", width=I, net=s)`` = seed·100000 +
    1000·I + s (the same initialisation in every
    protocol that shares ``output``); the data and minibatch order come from ``seed``. The trainer runs
    single-threaded, so a configuration gives the same numbers in any process."""
    p, w, S, seed = Protocol(**config["protocol"]), config["width"], config["S"], config["seed"]
    ds = synthetic_teacher(n=p.n, d=p.d, hidden=p.teacher_hidden, seed=seed, labels=p.labels,
                           weights=p.teacher_weights)
    seeds = seedlib.derive_many(seed, "table1_net", "net", S, width=w)
    nets = init_nets([w] * S, p.d, seeds, output=p.output, init_scale=p.init_scale, device=config["device"],
                     dtype=getattr(torch, config["dtype"]))
    r = train_onehidden(nets, ds.x, ds.y, lr=p.lr, batch_size=min(p.batch_size, p.n), steps=p.steps,
                        batch_seed=seed, tau=p.tau, output=p.output, check_every=p.check_every, threads=1)
    return Rates(widths=[w], S=S, hits=r.hits(p.hit_loss).sum(keepdims=True),
                 batch_hits=(r.batch_loss < 1e-5).cpu().numpy().sum(keepdims=True),
                 median_steps=np.median(r.steps.cpu().numpy(), keepdims=True), net_steps=r.net_steps,
                 seconds=r.seconds, at_cap=(~r.stopped_by_rule).cpu().numpy().sum(keepdims=True))


def combine(parts: Sequence[Rates]) -> Rates:
    """One :class:`Rates` from per-width parts with the same S (widths in the parts' order; work and seconds
    summed)."""
    if not parts or len({r.S for r in parts}) != 1:
        raise ValueError(f"combine needs parts with one common S, got {[r.S for r in parts]}")
    return Rates(widths=[w for r in parts for w in r.widths], S=parts[0].S,
                 hits=np.concatenate([r.hits for r in parts]), batch_hits=np.concatenate([r.batch_hits for r in parts]),
                 median_steps=np.concatenate([r.median_steps for r in parts]),
                 net_steps=sum(r.net_steps for r in parts), seconds=sum(r.seconds for r in parts),
                 at_cap=None if any(r.at_cap is None for r in parts) else np.concatenate([r.at_cap for r in parts]))


def run_protocols(rows: Mapping[str, tuple[Protocol, int]], widths: Sequence[int], *, seed: int = 0,
                  device: Device = "cpu", dtype: torch.dtype = torch.float32,
                  scheduler: str | None = None, store: str | Path | None = None,
                  progress: Callable | None = None) -> dict[str, Rates]:
    """Every row (name → (protocol, S seeds)) at every width, each (row, width) one configuration of
    :func:`companion.core.fanout.map`: here one after the other by default, on Dask with ``scheduler``, and with
    ``store`` a folder where each configuration's result is written as it finishes (a rerun loads those).
    ``progress``: a wrapper for the local loop over configurations. Returns name → :class:`Rates`, whose
    ``seconds`` are the training seconds summed over its widths."""
    if not widths or not rows:
        raise ValueError(f"need at least one width and one row; got widths={list(widths)}, rows={list(rows)}")
    configs = [width_config(p, w, S, seed=seed, device=device, dtype=dtype) for p, S in rows.values() for w in widths]
    parts = fanout.map(run_width, configs, scheduler=scheduler, store=store, progress=progress)
    k = len(widths)
    return {name: combine(parts[i * k:(i + 1) * k]) for i, name in enumerate(rows)}


def run_protocol(p: Protocol, widths: Sequence[int], S: int, *, seed: int = 0, device: Device = "cpu",
                 dtype: torch.dtype = torch.float32, **fan_out: Any) -> Rates:
    """Train S seeds of every width under protocol ``p`` and count hits: :func:`run_protocols` for one row
    (``fan_out``: its ``scheduler``, ``store`` and ``progress``)."""
    return run_protocols({"": (p, S)}, widths, seed=seed, device=device, dtype=dtype, **fan_out)[""]


def protocol_rows(headline: Protocol, S: int, ablation: Mapping[str, Mapping[str, Any]], *, steps: int,
                  S_ablation: int) -> dict[str, tuple[Protocol, int]]:
    """The table's rows for :func:`run_protocols`: ``"headline"`` (the protocol, S seeds), then each ablation
    row (name → changes): the headline with at most ``steps`` steps and that row's changes, S_ablation seeds."""
    return {"headline": (headline, S), **{name: (headline.vary(**{"steps": steps, **change}), S_ablation)
                                          for name, change in ablation.items()}}


def rates_frame(rows: Mapping[str, Rates], confidence: float = 0.95):
    """A long pandas table: one line per (row, width) with hits, rate, Wilson interval and the paper's rate."""
    import pandas as pd

    out = []
    for name, r in rows.items():
        lo, hi = r.interval(confidence)
        for i, w in enumerate(r.widths):
            paper = PAPER_HITS.get(w, np.nan) / 100
            out.append(dict(row=name, width=w, seeds=r.S, hits=int(r.hits[i]), rate=r.hits[i] / r.S, low=lo[i],
                            high=hi[i], paper=paper, paper_inside=bool(lo[i] <= paper <= hi[i]),
                            rule_stop_rate=r.batch_hits[i] / r.S, median_steps=r.median_steps[i]))
    return pd.DataFrame(out)


def summary_frame(rows: Mapping[str, Rates], table, protocols: Mapping[str, tuple[Protocol, int]]):
    """One line per row of the table (the rows' order), from :func:`rates_frame`'s ``table``: hits summed over
    widths, mean rate, widths with P1's rate inside the interval, mean rule-stop rate, median steps, seeds ×
    widths, and whether the row is full-batch descent (batch_size ≥ n)."""
    summary = table.groupby("row", sort=False).agg(hits=("hits", "sum"), mean_rate=("rate", "mean"),
                                                    inside=("paper_inside", "sum"),
                                                    rule_stop_rate=("rule_stop_rate", "mean"),
                                                    median_steps=("median_steps", "median"))
    summary["seeds × widths"] = [rows[k].S * len(rows[k].widths) for k in summary.index]
    summary["full batch"] = [protocols[k][0].batch_size >= protocols[k][0].n for k in summary.index]
    return summary


def regime_totals(summary, table) -> dict[str, float]:
    """From :func:`summary_frame` and :func:`rates_frame`: the SGD ablation rows' hits and networks in all
    (``sgd_hits``, ``sgd_nets``: every row but the headline with batch_size < n), and the full-batch rows'
    mean, smallest and largest rate over widths (``fb_rate``, ``fb_min``, ``fb_max``; NaN without one)."""
    sgd = summary[(summary.index != "headline") & ~summary["full batch"]]
    fb = table[table.row.isin(summary.index[summary["full batch"]])]
    return {"sgd_hits": int(sgd["hits"].sum()), "sgd_nets": int(sgd["seeds × widths"].sum()),
            "fb_rate": float(fb.rate.mean()), "fb_min": float(fb.rate.min()), "fb_max": float(fb.rate.max())}


#: widths of the networks of the trainer's equivalence check (:func:`check_trainer`)
EQUIV_WIDTHS: tuple[int, ...] = (10, 13, 21, 11)


def check_trainer(p: Protocol, *, seed: int, steps: int, widths: Sequence[int] = EQUIV_WIDTHS, lr: float = 1.0,
                  check_every: int = 10, device: Device = "cpu") -> tuple[float, bool]:
    """The fast trainer against autograd one network at a time (:func:`companion.training.onehidden.compare_with_autograd`),
    in float64, on ``p``'s synthetic data from ``seed`` (default teacher), one network per entry of ``widths``
    (network i seeded ``derive(seed, "replicate", offset=0, k=i)``), minibatches of ``p.batch_size`` from
    ``seed``, rate ``lr``, the rule checked every ``check_every`` steps, at most ``steps`` steps. Returns
    (largest weight difference, whether every network stopped at the same step)."""
    ds = synthetic_teacher(n=p.n, d=p.d, hidden=p.teacher_hidden, seed=seed)
    nets = init_nets(list(widths), p.d, seedlib.derive_many(seed, "replicate", "k", len(widths), offset=0),
                     dtype=torch.float64, device=device)
    return compare_with_autograd(nets, ds.x.to(device), ds.y.to(device), lr=lr, batch_size=p.batch_size, steps=steps,
                                 batch_seed=seed, check_every=check_every)


def benchmark(widths: Sequence[int], S: int, steps: int, *, batch_size: int = 100, lr: float = 0.1, n: int = 1000,
              d: int = 10, seed: int = 0, loop_S: int = 0, threads: int | None = 1,
              device: Device = "cpu") -> dict[str, float]:
    """The same work (S seeds of every width, ``steps`` SGD steps of ``batch_size``, nobody stopping) by the
    fast trainer, by today's batched autograd trainer (:func:`companion.training.train.train_sgd`, padded to the
    widest) and by a loop over networks (:func:`companion.training.train.train_sequential`, on ``loop_S`` seeds per
    width, 0: S), all float32 and with the same ``threads`` torch threads. Returns networks·steps per second of each and the fast trainer's GFLOP/s
    (:func:`companion.training.onehidden.matmul_flops`)."""
    with intra_op_threads(threads):
        return _benchmark(widths, S, steps, batch_size, lr, n, d, seed, loop_S, threads, device)


def _benchmark(widths: Sequence[int], S: int, steps: int, batch_size: int, lr: float, n: int, d: int, seed: int,
               loop_S: int, threads: int | None, device: str | torch.device) -> dict[str, float]:
    """The timings of :func:`benchmark`."""
    ds = synthetic_teacher(n=n, d=d, seed=seed)
    x, y = ds.x.float(), ds.y.float()
    per_net = [w for w in widths for _ in range(S)]
    seeds = [seedlib.derive(0, "table1_net", width=w, net=s) for w in widths for s in range(S)]
    nets = init_nets(per_net, d, seeds, device=device)
    r = train_onehidden(nets, x, y, lr=lr, batch_size=batch_size, steps=steps, check_every=steps + 1, stop_loss=-1.0,
                         threads=threads)
    out = {"fast": r.net_steps / r.seconds, "fast_gflops": matmul_flops(sum(per_net), d, batch_size) * steps / r.seconds / 1e9}
    kw = dict(steps=steps, lr=lr, batch_size=batch_size, check_every=steps, stop_loss=-1.0)
    layers, mask = init_padded(per_net, (d, 1, 1), seeds, device=device)
    t0 = time.perf_counter()
    train_sgd(layers, x, y, tau_hinge, seeds=seeds, mask=mask, **kw)
    out["batched_autograd"] = len(per_net) * steps / (time.perf_counter() - t0)
    k = loop_S or S
    sub = [i for i in range(len(per_net)) if i % S < k]
    t0 = time.perf_counter()
    for i in sub:
        one, _ = init_padded([per_net[i]], (d, 1, 1), [seeds[i]], device=device)
        train_sequential(one, x, y, tau_hinge, seeds=[seeds[i]], **kw)
    out["loop"] = len(sub) * steps / (time.perf_counter() - t0)
    return out
