"""One seed scheme: every seed of the package is derived here from (the chapter's seed, the names of the axes).

``derive(seed, layout, **index)`` gives the seed of one element of a named experiment's grid. A layout is a
linear map, ``seed · base + offset + Σ_axis stride_axis · index_axis``, with its axes named; the layouts below
keep the numbers every claim of the book was computed with before this module existed (so those claims stay
identical). :func:`check_layout` refuses an index outside its axis's range, where two elements would share a
seed. New experiments use :func:`spawn`, numpy's ``SeedSequence`` keyed by the axes' names and values.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping

import numpy as np


@dataclass(frozen=True)
class Layout:
    """``seed · base + offset + Σ stride[a] · index[a]``; ``size[a]``: how many values axis a may take before it
    runs into the next axis (None: unbounded, the last axis)."""

    base: int
    offset: int
    stride: Mapping[str, int]
    size: Mapping[str, int | None]


LAYOUTS: dict[str, Layout] = {
    # P1 Fig 1 (synthetic_landscape): the three solutions of a panel
    "fig1_triple": Layout(1000, 100, {"solution": 1}, {"solution": 900}),
    # P1 Fig 4 (real_landscapes): row r, solution k
    "fig4_triple": Layout(1000, 0, {"row": 10, "solution": 1}, {"row": 100, "solution": 10}),
    # the profile of real_landscapes at paper scale: solution k
    "profile_triple": Layout(1, 1, {"solution": 1}, {"solution": None}),
    # landscape sweep (landscape_verdict): initial network j of the 3·T of a width
    "sweep_init": Layout(10_000, 0, {"init": 1}, {"init": 10_000}),
    # Table 1 (hitting_rate): width w, network s
    "table1_net": Layout(100_000, 0, {"width": 1000, "net": 1}, {"width": 100, "net": 1000}),
    # Fig 5 (vgg_branches): branch i of a network seeded `seed`
    "vgg_branch": Layout(10_007, 0, {"branch": 1}, {"branch": 10_007}),
    # Fig 5 (vgg_branches): the epoch's data order (stream 0) and augmentation (stream 1) of a network seeded `seed`
    "vgg_epoch": Layout(1_000_003, 0, {"epoch": 1, "stream": 500_009}, {"epoch": 499_994, "stream": 2}),
    # consecutive seeds: replicate k of an experiment at offset `offset` (the chapters' seed + offset + k)
    "replicate": Layout(1, 0, {"offset": 1, "k": 1}, {"offset": None, "k": None}),
}


def check_layout(layout: str, index: Mapping[str, int]) -> Layout:
    """The named layout, after checking that ``index`` names its axes, each within its size."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown seed layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    lay = LAYOUTS[layout]
    if set(index) != set(lay.stride):
        raise ValueError(f"seed layout {layout!r} has axes {sorted(lay.stride)}; got {sorted(index)}")
    for a, i in index.items():
        size = lay.size[a]
        if int(i) < 0 or (size is not None and int(i) >= size):
            raise ValueError(f"seed layout {layout!r}: {a} = {i} is outside 0 … {size - 1 if size else '∞'}")
    return lay


def derive(seed: int, layout: str, **index: int) -> int:
    """The seed of element ``index`` of the experiment ``layout`` under the chapter seed ``seed``."""
    lay = check_layout(layout, index)
    return int(seed) * lay.base + lay.offset + sum(lay.stride[a] * int(i) for a, i in index.items())


def derive_many(seed: int, layout: str, axis: str, count: int, **fixed: int) -> list[int]:
    """``[derive(seed, layout, axis=k, **fixed) for k in range(count)]``."""
    return [derive(seed, layout, **{axis: k}, **fixed) for k in range(count)]


def spawn(seed: int, *path: str | int) -> int:
    """A 31-bit seed for the element named by ``path`` (axis names and values, e.g. ``"width", 12, "net", 3``):
    numpy's ``SeedSequence(seed, spawn_key=…)`` with the key a stable hash of the path, so distinct paths give
    independent streams whatever their order of use."""
    key = tuple(int.from_bytes(hashlib.sha256(str(p).encode()).digest()[:4], "little") for p in path)
    return int(np.random.SeedSequence(int(seed), spawn_key=key).generate_state(1)[0] & 0x7FFF_FFFF)
