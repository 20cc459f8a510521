"""P1 Table 1's experiment as data: protocols (teacher, student, optimiser, stopping rule), trained for many widths and
seeds in trainer blocks (:func:`companion.training.block.train_block`), judged against P1's counts, and the trainer's
benchmark.

**One block per data set and batch size.** Every network of every row, width and seed that shares the data (teacher
and labels) and the minibatch size goes into one :func:`~companion.training.block.train_block` call: rate, τ,
initialisation scale, output scaling, step cap and stopping rule are per-network values there, and the data and
the minibatch sequence are shared. Each block is one configuration of :func:`companion.core.fanout.map`, so the
blocks fan out to a Dask cluster when one is given, and with a store a rerun after a lost worker recomputes only
the blocks that were lost.

A *hit* is a network whose full-data loss is ≤ ``hit_loss`` when it stops (P1 §5.2: "hits the global minimum up to a
small error 1e-5"). The authors' rule (``rule="authors"``) stops on one minibatch; a network it stops on a minibatch
of zero loss need not have reached zero loss on the whole data: :class:`Rates` keeps both counts. ``"none"`` is
P1's "after 100,000 iterations" read literally (a fixed rate, a fixed number of steps); ``"cuts"`` the same with the
rule's rate cuts allowed. A network whose full-data loss is exactly 0 has zero gradient on every minibatch and stops
there (its result is that of the full run); anything else runs to its cap, and :class:`Rates` counts how many were
still changing there (the training gate of Table 1's findings).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np
import torch

from companion.core import fanout
from companion.core import seeds as seedlib
from companion.core.data import synthetic_teacher
from companion.core.devices import Device
from companion.core.stats import exact_tests_holm, logistic_slope, wilson_interval
from companion.training import block as blocklib
from companion.training.block import train_block
from companion.training.losses import tau_hinge
from companion.training.onehidden import Nets, Output, init_nets, intra_op_threads, matmul_flops, train_autograd
from companion.training.train import init_padded, train_sgd

#: P1 Table 1: hits out of 100 seeds for 10 … 21 hidden units.
PAPER_HITS: dict[int, int] = dict(zip(range(10, 22), [2, 9, 21, 24, 24, 29, 30, 32, 35, 52, 64, 75]))
PAPER_SEEDS = 100

Rule = Literal["authors", "cuts", "none"]


@dataclass(frozen=True)
class Protocol:
    """Everything that defines one row of the table. ``batch_size`` ≥ n means full-batch gradient descent;
    ``rule``: the stopping rule (:mod:`companion.training.block`), ``cuts`` the rate cuts it may make."""

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
    rule: Rule = "authors"
    cuts: int = 3

    def vary(self, **change: Any) -> "Protocol":
        """This protocol with some fields changed; an unknown field is an error naming the valid ones."""
        names = {f.name for f in fields(self)}
        bad = set(change) - names
        if bad:
            raise ValueError(f"unknown protocol field(s) {sorted(bad)}: choose from {sorted(names)}")
        return replace(self, **change)

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def batch(self) -> int:
        """The minibatch size the trainer uses: min(batch_size, n)."""
        return min(self.batch_size, self.n)

    @property
    def full_batch(self) -> bool:
        return self.batch_size >= self.n

    def data(self) -> dict[str, Any]:
        """The arguments of :func:`companion.core.data.synthetic_teacher` (without the seed): what a block shares."""
        return dict(n=self.n, d=self.d, hidden=self.teacher_hidden, labels=self.labels, weights=self.teacher_weights)


@dataclass
class Rates:
    """One row of the table. Per width (W,): ``hits`` (full-data loss ≤ hit_loss), ``batch_hits`` (the authors'
    rule stopped it on a minibatch loss < 1e-5: a hit as the rule sees it), ``median_steps`` taken, ``changing``
    (ran to the step cap with its full-data loss still changing there:
    :attr:`companion.training.block.BlockResult.changing`), ``converged`` (stopped at a full-data loss of exactly 0)
    and ``at_cap`` (ran to the cap), each out of ``S`` seeds, and ``cuts`` (rate cuts made, summed); ``net_steps`` the row's work and ``seconds`` its share of
    its block's time (by work, Σ steps × width)."""

    widths: list[int]
    S: int
    hits: np.ndarray
    batch_hits: np.ndarray
    median_steps: np.ndarray
    net_steps: int
    seconds: float
    changing: np.ndarray | None = None
    converged: np.ndarray | None = None
    at_cap: np.ndarray | None = None
    cuts: np.ndarray | None = None

    @property
    def changing_share(self) -> float:
        """Share of all the row's networks still changing at the step cap (Table 1's training gate); NaN when not
        recorded."""
        return float("nan") if self.changing is None else float(np.sum(self.changing) / (self.S * len(self.widths)))

    def interval(self, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Wilson interval of the hitting rate per width."""
        return wilson_interval(self.hits, self.S, confidence)

    def against_paper(self) -> tuple[np.ndarray, np.ndarray]:
        """(p, Holm-adjusted p) per width: two-sided Fisher exact tests of hits/S against P1's k/100 (widths P1 has)."""
        return exact_tests_holm(self.hits, self.S, np.array([PAPER_HITS[w] for w in self.widths]), PAPER_SEEDS)

    def slope(self, confidence: float = 0.95) -> tuple[float, float, float]:
        """(b, low, high): the logistic-regression slope of hits against width with its Wald interval
        (:func:`companion.core.stats.logistic_slope`; where its information matrix at the end is singular or not
        positive, as with (quasi-)separated data, the slope is infinite with the sign of the rise, the interval NaN)."""
        try:
            return logistic_slope(np.array(self.widths), self.hits, self.S, confidence=confidence)
        except (np.linalg.LinAlgError, ValueError):         # a singular or non-positive information matrix
            rise = np.sign(np.corrcoef(self.widths, self.hits)[0, 1]) if len(self.widths) > 1 else np.nan
            return float(rise * np.inf), float("nan"), float("nan")


@dataclass
class BlockRun:
    """One trainer block: its ``label``, minibatch size ``batch``, input dimension ``d``, ``rows`` (name →
    :class:`Rates` of the networks of that row in the block), ``networks``, ``net_steps`` (Σ steps), ``unit_steps``
    (Σ steps × width), ``seconds`` of training and the ``engine`` that ran it."""

    label: str
    batch: int
    d: int
    rows: dict[str, Rates]
    networks: int
    net_steps: int
    unit_steps: int
    seconds: float
    engine: str

    @property
    def flop(self) -> float:
        """The arithmetic done: :func:`~companion.training.onehidden.matmul_flops` per unit and step (4·B·(d+1))."""
        return float(matmul_flops(1, self.d, self.batch)) * self.unit_steps

    @property
    def gflops(self) -> float:
        return self.flop / self.seconds / 1e9 if self.seconds > 0 else float("nan")

    @property
    def net_steps_per_s(self) -> float:
        return self.net_steps / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class Table1(Mapping):
    """All rows (a mapping name → :class:`Rates`, in the rows' order) and the ``blocks`` that trained them."""

    rates: dict[str, Rates]
    blocks: list[BlockRun]

    def __getitem__(self, name: str) -> Rates:
        return self.rates[name]

    def __iter__(self):
        return iter(self.rates)

    def __len__(self) -> int:
        return len(self.rates)

    def block_of(self, name: str) -> BlockRun:
        """The block that trained row ``name``."""
        return next(b for b in self.blocks if name in b.rows)


# ------------------------------------------------------------------------------------------------ the rows

def protocol_rows(headline: Protocol, S: int, protocols: Mapping[str, Mapping[str, Any]],
                  ablation: Mapping[str, Mapping[str, Any]], *, S_ablation: int, fixed: str,
                  under: Sequence[str] = ("rule", "fixed")) -> dict[str, tuple[Protocol, int]]:
    """The table's rows: ``"headline"`` (the protocol, S seeds), each protocol row (name → changes to the headline,
    S seeds), then each ablation row (name → changes) under both protocols: ``"NAME · rule"`` (the headline with
    the changes) and ``"NAME · fixed"`` (protocol row ``fixed`` with the changes), S_ablation seeds each."""
    if fixed not in protocols:
        raise ValueError(f"fixed={fixed!r} must name one of the protocol rows {list(protocols)}")
    base = {"rule": headline, "fixed": headline.vary(**protocols[fixed])}
    out = {"headline": (headline, S), **{name: (headline.vary(**ch), S) for name, ch in protocols.items()}}
    for name, ch in ablation.items():
        for kind in under:
            out[f"{name} · {kind}"] = (base[kind].vary(**ch), S_ablation)
    return out


def row_kind(name: str) -> str:
    """"protocol" for the headline and protocol rows, else the protocol an ablation row runs under (its suffix)."""
    return name.rsplit(" · ", 1)[1] if " · " in name else "protocol"


def block_configs(rows: Mapping[str, tuple[Protocol, int]], widths: Sequence[int], *, seed: int = 0,
                  device: Device = "cpu", dtype: torch.dtype = torch.float32,
                  threads: int | None = None) -> list[dict[str, Any]]:
    """The configurations of :func:`companion.core.fanout.map`: one per (data set, minibatch size, check interval),
    in the order the rows first use them, each with its rows (name, protocol, S seeds at every width). Plain values
    only: a configuration is its own key in a store, so it names the code too
    (:func:`companion.core.fanout.source_key`). ``threads``: the kernel's threads (not part of the numbers)."""
    if not widths or not rows:
        raise ValueError(f"need at least one width and one row; got widths={list(widths)}, rows={list(rows)}")
    if min(widths) < 1 or any(S < 1 for _, S in rows.values()):
        raise ValueError(f"need widths ≥ 1 and S ≥ 1 seeds; got widths={list(widths)}, "
                         f"S={[S for _, S in rows.values()]}")
    groups: dict[str, dict[str, Any]] = {}
    for name, (p, S) in rows.items():
        key = json.dumps([p.data(), p.batch, p.check_every], sort_keys=True)
        if key not in groups:
            extra = [f"{p.teacher_weights} teacher"] * (p.teacher_weights != "gaussian") + \
                    [f"{p.labels} labels"] * (p.labels != "sign")
            groups[key] = {"kind": "hitting_rate.block", "label": ", ".join([f"B = {p.batch}"] + extra),
                           "rows": [], "widths": [int(w) for w in widths], "seed": int(seed), "device": str(device),
                           "dtype": str(dtype).removeprefix("torch."), "threads": threads, "code": fanout.source_key()}
        groups[key]["rows"].append([name, p.describe(), int(S)])
    return list(groups.values())


def run_block(config: Mapping[str, Any]) -> BlockRun:
    """Train one :func:`block_configs` configuration in one :func:`~companion.training.block.train_block` call and
    count each row's hits (module-level, so Dask workers can run it).

    Network (I, s) of every row is initialised from seed ``derive(seed, "table1_net", width=I, net=s)`` = seed·100000 +
    1000·I + s (so rows that share ``output`` start from the same networks, up to ``init_scale``); the data and the
    minibatch order come from ``seed``. The kernel's lanes are independent, so a network's numbers do not depend
    on the block it is in."""
    widths, seed, dev = config["widths"], config["seed"], config["device"]
    dtype = getattr(torch, config["dtype"])
    rows = [(name, Protocol(**pd), S) for name, pd, S in config["rows"]]
    p0 = rows[0][1]
    ds = synthetic_teacher(seed=seed, **p0.data())
    parts, per = [], {k: [] for k in ("lr", "steps", "rule", "tau", "output", "cuts")}
    for _, p, S in rows:
        per_net = [w for w in widths for _ in range(S)]
        sd = [seedlib.derive(seed, "table1_net", width=w, net=s) for w in widths for s in range(S)]
        parts.append(init_nets(per_net, p.d, sd, output=p.output, init_scale=p.init_scale, device=dev, dtype=dtype))
        for k in per:
            per[k] += [getattr(p, k)] * len(per_net)
    nets = Nets(torch.cat([q.W for q in parts]), torch.cat([q.a for q in parts]), torch.cat([q.widths for q in parts]))
    r = train_block(nets, ds.x, ds.y, batch_size=p0.batch, batch_seed=seed, check_every=p0.check_every,
                    threads=config.get("threads"), **per)
    steps, w_all = r.steps.cpu(), nets.widths.cpu()
    unit_steps = int((steps * w_all).sum())
    out, start = {}, 0
    for name, p, S in rows:
        sl = slice(start, start + S * len(widths))
        start = sl.stop
        by_width = lambda v: np.asarray(v.cpu()[sl].numpy()).reshape(len(widths), S)       # noqa: E731
        cap = (steps == p.steps) & ~r.stopped_by_rule.cpu() & ~r.converged.cpu()
        row_units = int((steps[sl] * w_all[sl]).sum())
        out[name] = Rates(widths=list(widths), S=S, hits=by_width(r.loss <= p.hit_loss).sum(1),
                          batch_hits=by_width(r.stopped_by_rule & (r.batch_loss < 1e-5)).sum(1),
                          median_steps=np.median(by_width(steps), axis=1), net_steps=int(steps[sl].sum()),
                          seconds=r.seconds * row_units / max(unit_steps, 1), changing=by_width(r.changing).sum(1),
                          converged=by_width(r.converged).sum(1), at_cap=by_width(cap).sum(1),
                          cuts=by_width(r.cuts).sum(1))
    return BlockRun(label=config["label"], batch=p0.batch, d=p0.d, rows=out, networks=len(w_all),
                    net_steps=r.net_steps, unit_steps=unit_steps, seconds=r.seconds, engine=r.engine)


def run_protocols(rows: Mapping[str, tuple[Protocol, int]], widths: Sequence[int], *, seed: int = 0,
                  device: Device = "cpu", dtype: torch.dtype = torch.float32, threads: int | None = None,
                  scheduler: str | None = None, store: str | Path | None = None,
                  progress: Callable | None = None) -> Table1:
    """Every row (name → (protocol, S seeds)) at every width, one :func:`run_block` per block of
    :func:`block_configs`, by :func:`companion.core.fanout.map`: here one after the other by default, on Dask with
    ``scheduler``, and with ``store`` a folder where each block's result is written as it finishes (a rerun loads
    those). ``progress``: a wrapper for the local loop over blocks."""
    configs = block_configs(rows, widths, seed=seed, device=device, dtype=dtype, threads=threads)
    blocks = fanout.map(run_block, configs, scheduler=scheduler, store=store, progress=progress)
    found = {name: r for b in blocks for name, r in b.rows.items()}
    return Table1(rates={name: found[name] for name in rows}, blocks=list(blocks))


def run_protocol(p: Protocol, widths: Sequence[int], S: int, *, seed: int = 0, device: Device = "cpu",
                 dtype: torch.dtype = torch.float32, **fan_out: Any) -> Rates:
    """Train S seeds of every width under protocol ``p`` and count hits: :func:`run_protocols` for one row
    (``fan_out``: its ``threads``, ``scheduler``, ``store`` and ``progress``)."""
    return run_protocols({"": (p, S)}, widths, seed=seed, device=device, dtype=dtype, **fan_out)[""]


# ------------------------------------------------------------------------------------------------ the tables

def rates_frame(rows: Mapping[str, Rates], confidence: float = 0.95, alpha: float = 0.05):
    """A long pandas table: one line per (row, width) with hits, rate, Wilson interval, P1's rate, the Holm-adjusted
    p of the two-sided exact test against P1's k/100 (Holm across the row's widths) and whether it is above
    ``alpha`` (``consistent``: no significant difference), the rule-stop rate, median steps and the share still
    changing at the cap."""
    import pandas as pd

    out = []
    for name, r in rows.items():
        lo, hi = r.interval(confidence)
        _, p_holm = r.against_paper()
        for i, w in enumerate(r.widths):
            paper = PAPER_HITS[w] / PAPER_SEEDS
            out.append(dict(row=name, width=w, seeds=r.S, hits=int(r.hits[i]), rate=r.hits[i] / r.S, low=lo[i],
                            high=hi[i], paper=paper, paper_inside=bool(lo[i] <= paper <= hi[i]),
                            p_holm=float(p_holm[i]), consistent=bool(p_holm[i] > alpha),
                            rule_stop_rate=r.batch_hits[i] / r.S, median_steps=r.median_steps[i],
                            changing=np.nan if r.changing is None else r.changing[i] / r.S))
    return pd.DataFrame(out)


def summary_frame(table1: Table1, protocols: Mapping[str, tuple[Protocol, int]], confidence: float = 0.95,
                  alpha: float = 0.05, gate_max: float = 0.1):
    """One line per row (the rows' order): what it runs (rule, rate, minibatch, step cap, seeds), the mean rate and
    hits, the widths at which it is consistent with P1 (Holm-adjusted exact p > ``alpha``), at which P1's rate
    lies in our Wilson interval, and at which it is significantly above and below P1's, the logistic slope of hits against width with its interval, the shares still
    changing at the cap and converged to exactly zero loss, the median steps, whether the row passes Table 1's
    training gate (share changing ≤ ``gate_max``), and its block."""
    import pandas as pd

    out = []
    for name, r in table1.rates.items():
        p, S = protocols[name]
        _, p_holm = r.against_paper()
        lo, hi = r.interval(confidence)
        paper = np.array([PAPER_HITS[w] for w in r.widths]) / PAPER_SEEDS
        b, b_lo, b_hi = r.slope(confidence)
        out.append({"row": name, "kind": row_kind(name), "rule": p.rule, "lr": p.lr, "batch": p.batch,
                    "step cap": p.steps, "seeds": S, "hits": int(r.hits.sum()), "mean_rate": float(r.hits.mean() / S),
                    "consistent": int((p_holm > alpha).sum()), "inside": int(((lo <= paper) & (paper <= hi)).sum()),
                    "above": int(((p_holm <= alpha) & (r.hits / S > paper)).sum()),
                    "below": int(((p_holm <= alpha) & (r.hits / S < paper)).sum()),
                    "slope": b, "slope_low": b_lo, "slope_high": b_hi, "changing": r.changing_share,
                    "converged": float(np.sum(r.converged) / (S * len(r.widths))),
                    "median_steps": float(np.median(r.median_steps)), "trained": bool(r.changing_share <= gate_max),
                    "block": table1.block_of(name).label})
    return pd.DataFrame(out).set_index("row")


def blocks_frame(table1: Table1, gemm: float):
    """One line per block: networks, rows, Σ steps, seconds, network·steps/s, GFLOP/s and the fraction of ``gemm``
    (FLOP/s, this machine's calibrated fp32 GEMM rate) it reached."""
    import pandas as pd

    return pd.DataFrame([{"block": b.label, "rows": len(b.rows), "networks": b.networks, "net_steps": b.net_steps,
                          "seconds": b.seconds, "net_steps_per_s": b.net_steps_per_s, "gflops": b.gflops,
                          "roofline": b.gflops * 1e9 / gemm, "engine": b.engine} for b in table1.blocks]
                        ).set_index("block")


def verdict_numbers(table1: Table1, summary, *, headline: str, fixed: str, cuts: str, gd: str) -> dict[str, Any]:
    """The numbers the page's explanation rests on, from :func:`summary_frame`'s ``summary`` (rows named as in
    ``table1``): the headline's hits, networks, rule-stop share and median steps (``head_*``); for the protocol rows
    ``fixed`` (fixed budget), ``cuts`` (the same with the rule's cuts) and ``gd`` (full batch) their mean, narrowest-
    and widest-width rates, widths consistent with P1, slope, and shares converged and changing (``fixed_*``,
    ``gd_*``), the cuts the ``cuts`` row made and the widths where its hits equal the fixed row's; the protocol row
    consistent with P1 at the most widths among those that pass the gate (``best``: their names, ``best_n``); per
    ablation kind
    (``rule``, ``fixed``) the rows, rows with any hit, rows that pass the gate, the largest share changing, the
    trained rows' smallest and largest mean rate (and the smallest's row), how many are consistent with P1 at most
    widths (more than half), and the fewest widths at which a trained row with hits is significantly above P1's
    (``<kind>_above_min``)."""
    H, F, C = table1[headline], table1[fixed], table1[cuts]
    nw = len(H.widths)
    out: dict[str, Any] = {"nw": nw, "w0": H.widths[0], "w1": H.widths[-1], "head_nets": H.S * nw,
                           "head_hits": int(H.hits.sum()), "head_stop": float(H.batch_hits.sum() / (H.S * nw)),
                           "head_steps": float(np.median(H.median_steps)),
                           "head_consistent": int(summary.loc[headline, "consistent"]),
                           "cuts_made": int(C.cuts.sum()), "cuts_nets": C.S * nw,
                           "cuts_same": int((C.hits == F.hits).sum())}
    for key, name in (("fixed", fixed), ("gd", gd)):
        r, row = table1[name], summary.loc[name]
        out |= {f"{key}_rate": float(row.mean_rate), f"{key}_lo": float(r.hits[0] / r.S),
                f"{key}_hi": float(r.hits[-1] / r.S), f"{key}_min": float(r.hits.min() / r.S),
                f"{key}_max": float(r.hits.max() / r.S), f"{key}_consistent": int(row.consistent),
                f"{key}_slope": float(row.slope), f"{key}_conv": float(row.converged), f"{key}_changing": float(row.changing),
                f"{key}_above": int(row.above),
                f"{key}_cap": int(row["step cap"])}
    proto = summary[(summary.kind == "protocol") & summary.trained]
    top = proto.index[proto.consistent == proto.consistent.max()] if len(proto) else []
    out |= {"best": ", ".join(top) or "none", "best_n": int(proto.consistent.max()) if len(proto) else 0}
    for kind in ("rule", "fixed"):
        a = summary[summary.kind == kind]
        t = a[a.trained]
        out |= {f"{kind}_rows": len(a), f"{kind}_hit_rows": int((a.hits > 0).sum()), f"{kind}_trained": len(t),
                f"{kind}_changing_max": float(a.changing.max()) if len(a) else float("nan"),
                f"{kind}_tmin": float(t.mean_rate.min()) if len(t) else float("nan"),
                f"{kind}_tmin_row": str(t.mean_rate.idxmin()).rsplit(" · ", 1)[0] if len(t) else "none",
                f"{kind}_tmax": float(t.mean_rate.max()) if len(t) else float("nan"),
                f"{kind}_most": int((a.consistent > nw / 2).sum()),
                f"{kind}_above_min": int(t[t.hits > 0].above.min()) if len(t[t.hits > 0]) else 0}
    return out


def heatmap(ax, table, rows: Sequence[str], *, label: str = "P1 Table 1", cmap: str = "viridis") -> Any:
    """Rates as a heat-map on ``ax``: P1's Table 1 as the first row (framed and labelled ``label``), then ``rows``
    (names of :func:`rates_frame`'s rows) × widths, each cell annotated with its rate and marked ○ where the row is
    consistent with P1 at that width (Holm-adjusted exact p > alpha). Returns the image (for a colour bar)."""
    from matplotlib.patches import Rectangle

    from companion.core.plotting import MIN_FONT

    widths = sorted(table.width.unique())
    R = table.pivot(index="row", columns="width", values="rate").loc[list(rows), widths].to_numpy()
    C = table.pivot(index="row", columns="width", values="consistent").loc[list(rows), widths].to_numpy()
    M = np.vstack([[PAPER_HITS[w] / PAPER_SEEDS for w in widths], R])
    im = ax.imshow(M, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    for (i, j), v in np.ndenumerate(M):
        mark = "○" if i > 0 and bool(C[i - 1, j]) else ""
        ax.text(j, i, f"{v:.2f}".lstrip("0") + mark, ha="center", va="center", fontsize=MIN_FONT,
                color="black" if v > 0.6 else "white")
    ax.add_patch(Rectangle((-0.5, -0.5), len(widths), 1.0, fill=False, lw=1.8, ec="red"))
    ax.set_yticks(range(len(M)), [label] + list(rows))
    ax.get_yticklabels()[0].set_fontweight("bold")
    ax.set_xticks(range(len(widths)), widths)
    ax.grid(False)
    ax.set(xlabel="hidden units I")
    return im


@dataclass
class Finding:
    """What one finding on P1 Table 1 records (the chapter turns it into ``claims.judge``): ``p_holm`` set for a
    per-width rate (judged by the two-sample rule), None for a trend (judged "above" the registered slope);
    ``changing`` the row's share still changing at the cap (the gate's measured value)."""

    id: str
    description: str
    statement: str
    estimate: float
    low: float
    high: float
    replicates: int
    paper: float
    changing: float
    primary: bool = False
    p_holm: float | None = None


def slug(name: str) -> str:
    """A claim-id fragment of a row name: ``"fixed steps + cuts"`` → ``"fixed_steps_cuts"``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def findings(table1: Table1, *, rates_rows: Sequence[str], trend_rows: Sequence[str], primary: str,
             confidence: float = 0.95) -> list[Finding]:
    """Table 1's findings: for each row of ``trend_rows`` the trend (logistic slope of hits against width,
    ``P1.table1:trend``, against P1's own slope; id ``trend`` for the row ``primary``, else ``trend_<slug>``), and for
    each row of ``rates_rows`` the rate at every width (``P1.table1:rates``; id ``rate_I<w>`` for ``primary``, else
    ``<slug>_rate_I<w>``) with its Wilson interval and the Holm-adjusted p of the exact test against P1's k/100.
    Row ``primary``'s trend and its rate at the widest width are primary."""
    paper_b = logistic_slope(np.array(list(PAPER_HITS)), np.array(list(PAPER_HITS.values())), PAPER_SEEDS)[0]
    out = []
    for name in trend_rows:
        r, id = table1[name], "trend" if name == primary else f"trend_{slug(name)}"
        b, lo, hi = r.slope(confidence)
        who = "" if name == primary else f"{name}: "
        out.append(Finding(id, f"{who}the rate rises with width: logistic-regression slope of hits against width I = "
                           f"{r.widths[0]}–{r.widths[-1]} (log-odds per unit; {confidence:.0%} Wald interval; P1's own "
                           f"Table 1 gives {paper_b:.2f})", "P1.table1:trend", b, lo, hi, r.S * len(r.widths), paper_b,
                           r.changing_share, primary=name == primary))
    for name in rates_rows:
        r, prefix = table1[name], "" if name == primary else f"{slug(name)}_"
        lo, hi = r.interval(confidence)
        _, p_holm = r.against_paper()
        who = "" if name == primary else f"{name}: "
        for i, w in enumerate(r.widths):
            out.append(Finding(f"{prefix}rate_I{w}", f"{who}hitting rate at I = {w} ({r.S} seeds, {confidence:.0%} Wilson "
                               f"interval) against P1's {PAPER_HITS[w]}/100: two-sided exact test, Holm-adjusted p = "
                               f"{p_holm[i]:.3g}", "P1.table1:rates", float(r.hits[i] / r.S), float(lo[i]), float(hi[i]),
                               r.S, PAPER_HITS[w] / PAPER_SEEDS, r.changing_share,
                               primary=name == primary and i == len(r.widths) - 1, p_holm=float(p_holm[i])))
    return out


def figure(table, table1: Table1, protocol_rows: Sequence[str], confidence: float = 0.95):
    """The page's figure: (top) one small panel per protocol row, its rates with Wilson intervals against P1's
    Table 1 (dashed), so that rows at the same rates never hide each other; (bottom) :func:`heatmap` of every row.
    Returns the figure."""
    import matplotlib.pyplot as plt

    from companion.core.plotting import COLORS, MAX_WIDTH, apply_style

    apply_style()
    k = len(protocol_rows)
    rows = len(table1.rates)
    fig = plt.figure(figsize=(MAX_WIDTH, 2.3 + 0.24 * (rows + 1) + 1.0), constrained_layout=True)
    grid = fig.add_gridspec(2, k, height_ratios=[2.3, 0.24 * (rows + 1) + 1.0])
    axes = [fig.add_subplot(grid[0, i]) for i in range(k)]
    for i, (ax, name) in enumerate(zip(axes, protocol_rows)):
        r = table1[name]
        lo, hi = r.interval(confidence)
        rate = r.hits / r.S
        ax.plot(list(PAPER_HITS), [v / PAPER_SEEDS for v in PAPER_HITS.values()], "--", color=COLORS["reference"],
                lw=1.2, label="P1 Table 1")
        ax.errorbar(r.widths, rate, yerr=np.maximum(0, [rate - lo, hi - rate]), fmt="o-", ms=3, capsize=2, lw=1,
                    color=COLORS["measured"], label="ours")
        ax.set(title=f"{name}\n({r.S} seeds)", xlabel="I", ylim=(-0.03, 1.03))
        if i:
            ax.tick_params(labelleft=False)
        else:
            ax.set_ylabel("hitting rate")
            ax.legend(loc="upper left")
    hm = fig.add_subplot(grid[1, :])
    im = heatmap(hm, table, list(table1.rates))
    hm.set_title("every row (○: consistent with P1, Holm-adjusted exact test)")
    fig.colorbar(im, ax=hm, shrink=0.6, label="hitting rate")
    return fig


def row_figure(table1: Table1, name: str, confidence: float = 0.95):
    """One row's hitting rate against width, with Wilson intervals and its hits/S per point, beside P1's Table 1 (the
    same axes for every row: one frame of the page's slider over rows). Returns the figure."""
    from companion.core.plotting import COLORS, MIN_FONT, subplots

    r = table1[name]
    lo, hi = r.interval(confidence)
    rate = r.hits / r.S
    fig, ax = subplots(1, width=5.0, height=3.4)
    ax.plot(list(PAPER_HITS), [v / PAPER_SEEDS for v in PAPER_HITS.values()], "s--", ms=4, mfc="none",
            color=COLORS["reference"], label="P1 Table 1 (100 seeds)")
    ax.errorbar(r.widths, rate, yerr=np.maximum(0, [rate - lo, hi - rate]), fmt="o-", ms=4, capsize=2, lw=1.2,
                color=COLORS["measured"], label=f"{name} ({r.S} seeds, {confidence:.0%} interval)")
    for w, h, y in zip(r.widths, r.hits, rate):
        ax.annotate(f"{h}/{r.S}", (w, y), textcoords="offset points", xytext=(4, 4), fontsize=MIN_FONT)
    ax.set(xlabel="hidden units I", ylabel="hitting rate", ylim=(-0.03, 1.08), xlim=(9.5, 21.5), title=name)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    return fig


# ------------------------------------------------------------------------------------------------ the trainer

#: widths of the networks of the trainer's equivalence check (:func:`check_trainer`), one per (rule, τ, output)
EQUIV_WIDTHS: tuple[int, ...] = (10, 13, 21, 11, 12, 16)
_EQUIV = dict(rule=["authors", "authors", "none", "none", "cuts", "cuts"], tau=[1.0, 0.5, 1.0, 2.0, 1.0, 0.5],
              output=["sum", "mean", "sum", "sum", "mean", "sum"], lr=[1.0, 4.0, 0.5, 1.0, 3.0, 1.0])


def check_trainer(p: Protocol, *, seed: int, steps: int, widths: Sequence[int] = EQUIV_WIDTHS, check_every: int = 10,
                  device: Device = "cpu") -> tuple[float, bool]:
    """The block trainer (:func:`~companion.training.block.train_block`, all networks in one block with per-network
    rule, rate, τ and output scaling: ``_EQUIV``) against autograd one network at a time
    (:func:`~companion.training.onehidden.train_autograd`), in float64, on ``p``'s synthetic data from ``seed``
    (default teacher), network i seeded ``derive(seed, "replicate", offset=0, k=i)``, minibatches of
    ``p.batch_size`` from ``seed``, the rule checked every ``check_every`` steps, at most ``steps`` steps. Returns
    (largest weight difference, whether every network stopped at the same step: the rule's stop, or for
    ``"none"``/``"cuts"`` the cap or an exact zero loss, after which the reference changes nothing)."""
    if len(widths) != len(EQUIV_WIDTHS):
        raise ValueError(f"check_trainer needs {len(EQUIV_WIDTHS)} widths, one per setting; got {len(widths)}")
    ds = synthetic_teacher(n=p.n, d=p.d, hidden=p.teacher_hidden, seed=seed)
    x, y = ds.x.to(device=device, dtype=torch.float64), ds.y.to(device=device, dtype=torch.float64)
    sd = seedlib.derive_many(seed, "replicate", "k", len(widths), offset=0)
    diff, same = 0.0, True
    kw = dict(batch_size=p.batch_size, batch_seed=seed)
    nets = [init_nets([w], p.d, [s], output=o, dtype=torch.float64, device=device)
            for w, s, o in zip(widths, sd, _EQUIV["output"])]
    block = Nets(torch.cat([q.W for q in nets]), torch.cat([q.a for q in nets]), torch.cat([q.widths for q in nets]))
    r = train_block(block, x, y, steps=steps, check_every=check_every, **_EQUIV, **kw)
    for s, q in enumerate(nets):
        rule = _EQUIV["rule"][s]
        (w, a, taken), = train_autograd(q, x, y, lr=_EQUIV["lr"][s], steps=steps, tau=_EQUIV["tau"][s],
                                        output=_EQUIV["output"][s], stop_loss=1e-5 if rule == "authors" else -np.inf,
                                        check_every=check_every if rule != "none" else steps + 1, **kw)
        rw, ra = r.nets.network(s)
        diff = max(diff, float((rw - w).abs().max()), float((ra - a).abs().max()))
        same &= int(r.steps[s]) == taken or bool(r.converged[s])
    return diff, bool(same)


def benchmark(widths: Sequence[int], S: int, steps: int, *, old_steps: int, autograd_steps: int,
              batch_size: int = 100, lr: float = 0.1, n: int = 1000, d: int = 10, seed: int = 0,
              threads: int | None = None) -> dict[str, float]:
    """:func:`companion.training.block.benchmark` (the fixed-iteration work of S seeds of every width: the block on
    the compiled kernel with ``threads`` threads and with one, ``steps`` steps; the old designs, the same block by
    ``train_onehidden`` and one ``train_onehidden`` per width, and the torch engine, ``old_steps`` steps) plus
    batched autograd (:func:`companion.training.train.train_sgd`, padded to the widest, one thread,
    ``autograd_steps`` steps) on the same networks: ``*_net_steps_per_s`` and ``*_gflops`` of each."""
    out = blocklib.benchmark(widths, S, steps, old_steps=old_steps, batch_size=batch_size, lr=lr, n=n, d=d, seed=seed,
                             threads=threads)
    ds = synthetic_teacher(n=n, d=d, seed=seed)
    per_net = [int(w) for w in widths for _ in range(S)]
    seeds = [1000 * w + s for w in widths for s in range(S)]
    layers, mask = init_padded(per_net, (d, 1, 1), seeds)
    with intra_op_threads(1):
        t0 = time.perf_counter()
        train_sgd(layers, ds.x.float(), ds.y.float(), tau_hinge, seeds=seeds, mask=mask, steps=autograd_steps, lr=lr,
                  batch_size=batch_size, check_every=autograd_steps, stop_loss=-1.0)
        sec = time.perf_counter() - t0
    out["autograd_net_steps_per_s"] = len(per_net) * autograd_steps / sec
    out["autograd_gflops"] = matmul_flops(sum(per_net), d, batch_size) * autograd_steps / sec / 1e9
    return out
