"""What a chapter stage costs, independent of the machine: :class:`Work` (FLOPs, bytes, small operations, peak
memory) and the byte sizes of the dtypes. The cost functions (:mod:`companion.book.costs`) build it; the model
(:mod:`companion.book.plan`) turns it into time and memory on a machine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

F32, F64 = 4, 8


@dataclass(frozen=True)
class Work:
    """One stage of a chapter: its work, independent of the machine (see the module docstring)."""

    stage: str
    flops: float = 0.0
    bytes: float = 0.0
    ops: float = 0.0
    assign: float = 0.0
    eig: float = 0.0
    peak: float = 0.0
    host: bool = False          # runs on the host CPU whatever the device (NumPy, SciPy, cvxpy)
    tensor_cores: bool = False  # bf16 / TF32 work a GPU runs on its tensor cores
    bound: bool = False         # a step budget that a stopping rule may end early: the estimate is an upper bound
    #: Units of probe-timed work (:data:`companion.book.probes.PROBES` name → count): on a machine that has every
    #: one of these probes they cost count × the probe's seconds per unit, and the part of ``flops``, ``bytes``
    #: and ``ops`` that the probes time (``replaces``: field name → amount) leaves the fitted terms; elsewhere (a
    #: GPU class, a probe that could not run) the fitted terms count everything.
    probed: Mapping[str, float] = field(default_factory=dict)
    replaces: Mapping[str, float] = field(default_factory=dict)
