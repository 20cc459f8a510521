"""The branch block against the generic path at the landscape chapters' shapes: network·steps per second and the
share of this machine's GEMM and bandwidth rooflines (:func:`benchmark`, a table a chapter can show).

The rooflines are arguments (FLOP/s and bytes/s, e.g. :func:`companion.book.plan.calibrate`'s ``gemm`` and
``bandwidth``), since training imports nothing from the book.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

import pandas as pd
import torch

from companion.training.branch_block import FirstLayer, choose_first_layer
from companion.training.losses import multiclass_hinge, tau_hinge
from companion.training.nets import init_branches, init_default, trainable_masks, with_ones
from companion.training.train import SGDConfig, time_steps, train_sgd


def step_flops(I: int, h: int, d: int, out: int, B: int) -> int:
    """FLOPs (2 per multiply-add) of one network's step on I·h real hidden units: the first layer's forward and
    its weight gradient, 2·B·I·h·d each (no gradient of the inputs is formed), and the second layer's forward,
    weight gradient and backward product, 2·B·I·h·out each: B·I·h·(4·d + 6·out). (The usual "6·d per unit and
    example" counts an input gradient too, which neither path computes.)"""
    return B * I * h * (4 * d + 6 * out)


def step_bytes(I: int, h: int, d: int, out: int, B: int, *, decay: bool, itemsize: int = 4) -> int:
    """Bytes one network's block step moves at least, if nothing stays in cache: the first layer read by the
    forward and read and written by the update (and once more read and written by the decay), the activations
    A and gA written, read and re-read (Z → relu in place, the output product, the backward product, the mask,
    the update), and the minibatch gathered and read twice."""
    w = I * h * d * (3 + 2 * int(decay))
    act = I * h * B * 8
    return itemsize * (w + act + 3 * B * d)


@dataclass(frozen=True)
class BenchShape:
    """One benchmark shape: S networks of I branches of h hidden units on d inputs (with ``bias``: plus the
    constant column and units of init_default; without: init_branches), ``out`` classes (1: the τ-hinge on ±1
    labels; more: the multi-class hinge), n examples, batches of ``batch_size`` (None: full batch), ``rule``."""

    S: int
    I: int
    d: int
    h: int
    out: int
    n: int = 1000
    batch_size: int | None = 100
    bias: bool = True
    rule: Literal["authors", "check_full"] = "authors"


#: The landscape chapters' training shapes at the ``cpu`` preset (widest I of each row): landscape_verdict's
#: synthetic sweep (6 authors' settings × 15 networks; ours: 15, full batch) and its real rows (4 settings × 15
#: networks, n_train 1000), real_landscapes' panels (3 networks, n_train 2000, batch 128) and
#: synthetic_landscape's (3 networks, full batch).
CHAPTER_SHAPES: dict[str, BenchShape] = {
    "verdict synthetic I=1000": BenchShape(90, 1000, 10, 1, 1),
    "verdict synthetic I=10": BenchShape(90, 10, 10, 1, 1),
    "verdict synthetic ours I=1000": BenchShape(15, 1000, 10, 1, 1, batch_size=None, bias=False, rule="check_full"),
    "verdict MNIST I=100": BenchShape(60, 100, 784, 8, 10),
    "verdict CIFAR I=100": BenchShape(60, 100, 3072, 8, 10),
    "panel MNIST I=100": BenchShape(3, 100, 784, 8, 10, n=2000, batch_size=128, bias=False, rule="check_full"),
    "panel CIFAR I=100": BenchShape(3, 100, 3072, 8, 10, n=2000, batch_size=128, bias=False, rule="check_full"),
    "Fig 1 panel I=1000": BenchShape(3, 1000, 10, 1, 1, batch_size=None, bias=False, rule="check_full"),
}


def _bench_case(shape: BenchShape, *, device: str, dtype: torch.dtype, seed: int):
    """(layers, x, y, loss, trainable) of a :class:`BenchShape` on random data."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape.n, shape.d, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
    if shape.out == 1:
        y = torch.where(torch.randn(shape.n, generator=g) > 0, 1.0, -1.0).to(device=device, dtype=dtype)
        loss = tau_hinge
    else:
        y, loss = torch.randint(0, shape.out, (shape.n,), generator=g).to(device), multiclass_hinge
    seeds = list(range(seed, seed + shape.S))
    widths = (shape.d, shape.h, shape.out)
    if shape.bias:
        L = init_default(shape.S, shape.I, widths, seed=seeds, device=device, dtype=dtype)
        return L, with_ones(x), y, loss, trainable_masks(L)
    return init_branches(shape.S, shape.I, widths, seed=seeds, device=device, dtype=dtype,
                         parametrization="mean"), x, y, loss, None


def benchmark(shapes: Mapping[str, BenchShape] | None = None, *, steps: int = 10, weight_decay: float = 1e-3,
              gemm: float | None = None, bandwidth: float | None = None, device: str = "cpu",
              dtype: torch.dtype = torch.float32, seed: int = 0,
              engines: Sequence[tuple[str, FirstLayer]] = (("generic", "auto"), ("block", "auto")),
              repeats: int = 2, check_steps: int = 3) -> pd.DataFrame:
    """Time :func:`companion.training.train.train`'s steps on each (engine, first layer) at each shape (default
    :data:`CHAPTER_SHAPES`): the same networks, batches and rule, per-network rates, the decay on every other
    network. ``gemm`` (FLOP/s) and ``bandwidth`` (bytes/s): this machine's rooflines (e.g.
    :func:`companion.book.plan.calibrate`'s ``gemm`` and ``bandwidth``); None leaves their fractions out.

    One row per (shape, engine): ``net_steps_per_s`` (network·steps per second of the loop between checks,
    :func:`companion.training.train.time_steps`, ``steps`` steps, best of ``repeats``), ``speedup`` over the
    first engine, the work of a step counted in the primal form — ``gflops`` (:func:`step_flops` per second),
    ``gemm_fraction`` (of ``gemm``) and ``bandwidth_fraction`` (:func:`step_bytes` per second, of
    ``bandwidth``), so that the dual form (fewer FLOPs) can exceed 1 — and ``max_abs_diff``, the largest
    difference of any weight from the first engine's after ``check_steps`` steps of :func:`train_sgd`.
    """
    shapes = CHAPTER_SHAPES if shapes is None else shapes
    rows = []
    for name, sh in shapes.items():
        L, x, y, loss, masks = _bench_case(sh, device=device, dtype=dtype, seed=seed)
        kw = dict(lr=[0.05 * (1 + s % 3) for s in range(sh.S)], weight_decay=[weight_decay * (s % 2) for s in range(sh.S)],
                  batch_size=sh.batch_size, rule=sh.rule, scale="mean", stop_loss=-1.0, check_every=100)
        B = sh.n if sh.batch_size is None else min(sh.batch_size, sh.n)
        flops = step_flops(sh.I, sh.h, x.shape[1], sh.out, B)
        nbytes = step_bytes(sh.I, sh.h, x.shape[1], sh.out, B, decay=weight_decay != 0, itemsize=x.element_size())
        ref, base = None, None
        for engine, first in engines:
            config = SGDConfig(steps=steps, engine=engine, first_layer=first, **kw)
            sec, which = min(time_steps(L, x, y, loss, config, seeds=list(range(sh.S)), trainable=masks, steps=steps)
                             for _ in range(repeats))
            r = train_sgd(L, x, y, loss, seeds=list(range(sh.S)), trainable=masks,
                          **{**kw, "steps": check_steps, "engine": engine, "first_layer": first})
            rate = sh.S / sec
            if ref is None:
                ref, base = r, rate
            form = choose_first_layer(first, n=sh.n, d=x.shape[1]) if which == "block" else ""
            rows.append({"shape": name, "engine": f"{which} {form}".strip(), "S": sh.S, "I": sh.I, "d": x.shape[1],
                         "h": sh.h, "out": sh.out, "n": sh.n, "B": B, "net_steps_per_s": rate, "speedup": rate / base,
                         "gflops": flops * rate / 1e9, "gemm_fraction": flops * rate / gemm if gemm else float("nan"),
                         "bandwidth_fraction": nbytes * rate / bandwidth if bandwidth else float("nan"),
                         "max_abs_diff": max(float((a - b).abs().max()) for a, b in zip(r.layers, ref.layers))})
    return pd.DataFrame(rows)
