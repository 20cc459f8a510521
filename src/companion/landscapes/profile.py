"""Where the time and the memory of a landscape panel go: a per-stage profile of
:func:`companion.landscapes.pipeline.landscape_panel` (wall time and peak memory per stage), the profile
recorded at paper scale (package data ``paper_scale.csv``) and straight-line fits of it in the width I.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from companion.core import seeds
from companion.core.devices import Device, resolve_device
from companion.landscapes.pipeline import PanelConfig, View, landscape_panel


def _rss_bytes() -> int:
    """This process's resident memory now (Linux: /proc/self/statm; elsewhere its peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class StageRecorder:
    """A stage hook (:data:`Stage`) recording, per stage, the wall time (summed over its calls) and the peak
    memory during it: on a CPU the process's resident memory, sampled every ``interval`` seconds by a thread;
    on CUDA the peak of allocated device memory. Rows: dicts (I, stage, seconds, peak_gib)."""

    device: torch.device
    I: int = 0
    interval: float = 0.005
    rows: list[dict] = field(default_factory=list)

    @contextlib.contextmanager
    def __call__(self, name: str):
        cuda = self.device.type == "cuda"
        peak, stop = [_rss_bytes()], threading.Event()

        def sample() -> None:
            while not stop.wait(self.interval):
                peak[0] = max(peak[0], _rss_bytes())

        if cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            watcher = threading.Thread(target=sample, daemon=True)
            watcher.start()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if cuda:
                torch.cuda.synchronize(self.device)
                top = torch.cuda.max_memory_allocated(self.device)
            else:
                stop.set()
                watcher.join()
                top = max(peak[0], _rss_bytes())
            self._add(name, time.perf_counter() - t0, top / 2**30)

    def _add(self, name: str, seconds: float, peak_gib: float) -> None:
        for row in self.rows:
            if row["I"] == self.I and row["stage"] == name:
                row["seconds"] += seconds
                row["peak_gib"] = max(row["peak_gib"], peak_gib)
                return
        self.rows.append({"I": self.I, "stage": name, "seconds": seconds, "peak_gib": peak_gib})


def profile_stages(Is: Sequence[int], *, widths: Sequence[int] = (3072, 8, 8, 8, 10), n_train: int = 2000,
                   n_eval: int = 500, n_probe: int = 500, steps: int = 20, batch_size: int = 128, G: int = 5,
                   K: int = 21, branch_chunk: int | None = 2048, views: Sequence[View] = ("none", "aligned"),
                   seed: int = 0, device: Device = "cpu", progress: Callable | None = None):
    """Per-stage wall time and peak memory of :func:`landscape_panel` at each width I in ``Is`` (default: the
    deep CIFAR-10 row, 8-8-8 branches, with few steps and a small grid), on random Gaussian inputs and labels
    (the costs do not depend on the values). Planes are not kept (as for the paper's I = 50,000).

    Returns a pandas DataFrame with columns I, stage, seconds, peak_gib (see :class:`StageRecorder`) and one
    row per I with stage ``"total"`` (summed time, largest peak). Fit with :func:`fit_scaling`.
    """
    import pandas as pd

    from companion.training.losses import multiclass_hinge

    dev = resolve_device(device)             # the recorder asks its type
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_train, widths[0], generator=g)
    y = torch.randint(0, widths[-1], (n_train,), generator=g)
    rec = StageRecorder(dev)
    triple = tuple(seeds.derive_many(seed, "profile_triple", "solution", 3))      # seed + 1, + 2, + 3
    for I in (progress(Is, "I") if progress else Is):
        rec.I = I
        config = PanelConfig(I=I, widths=tuple(widths), seeds=triple, steps=steps, lr=0.05 * I, G=G, K=K,
                             batch_size=batch_size, scale="mean", parametrization="mean", branch_chunk=branch_chunk,
                             views=tuple(views), n_probe=n_probe, keep_planes=False, device=dev)
        t0 = time.perf_counter()
        landscape_panel(x, y, multiclass_hinge, config, x_eval=x[:n_eval], y_eval=y[:n_eval], stage=rec)
        mine = [r for r in rec.rows if r["I"] == I]
        rec.rows.append({"I": I, "stage": "total", "seconds": time.perf_counter() - t0,
                         "peak_gib": max(r["peak_gib"] for r in mine)})
    return pd.DataFrame(rec.rows)


#: The recorded profile (:func:`recorded_profile`): package data beside this module.
RECORDED_PROFILE = "paper_scale.csv"


def recorded_profile():
    """The :func:`profile_stages` table measured for issue 17 ("paper scale"; its header says where and how):
    the defaults at I = 1,000 … 25,000 on the project's 2-core CPU machine, one fresh process per I, as a
    pandas DataFrame (columns I, stage, seconds, peak_gib). Fit it with :func:`fit_scaling`."""
    from importlib import resources

    import pandas as pd

    with resources.files("companion.landscapes").joinpath(RECORDED_PROFILE).open(encoding="utf-8") as f:
        return pd.read_csv(f, comment="#")


def fit_scaling(table, target_I: int = 50_000):
    """Per stage, least-squares lines seconds = a + b·I and peak_gib = c + e·I through the rows of a
    :func:`profile_stages` table (at least 3 distinct I), and their values at ``target_I``: a DataFrame with
    columns stage, s_per_1000_branches, seconds_at_target, gib_per_1000_branches, peak_gib_at_target,
    max_rel_residual (the largest relative miss of either line on the measured points)."""
    import pandas as pd

    rows = []
    for name, part in table.groupby("stage", sort=False):
        I = part["I"].to_numpy(float)
        if len(np.unique(I)) < 3:
            raise ValueError(f"stage {name!r}: need at least 3 distinct I to fit a line and see its error, got {sorted(set(I))}")
        fit = {}
        miss = 0.0
        for col in ("seconds", "peak_gib"):
            v = part[col].to_numpy(float)
            b, a = np.polyfit(I, v, 1)
            miss = max(miss, float(np.max(np.abs(a + b * I - v) / np.maximum(np.abs(v), 1e-9))))
            fit[col] = (a, b)
        rows.append({"stage": name, "s_per_1000_branches": 1000 * fit["seconds"][1],
                     "seconds_at_target": fit["seconds"][0] + fit["seconds"][1] * target_I,
                     "gib_per_1000_branches": 1000 * fit["peak_gib"][1],
                     "peak_gib_at_target": fit["peak_gib"][0] + fit["peak_gib"][1] * target_I,
                     "max_rel_residual": miss})
    return pd.DataFrame(rows)
