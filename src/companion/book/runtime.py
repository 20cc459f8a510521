"""What a chapter calls: :func:`start_chapter` first (device, claims, provenance), then :func:`glue` to put numbers into the page's prose (myst-nb), safely for numpy and torch scalars, and
:func:`progress` bars."""

from __future__ import annotations

from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """Convert numpy / torch scalars to Python numbers (their numpy-2 reprs break glue formatting)."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def start_chapter(chapter: str, *, preset: str, device: str, seed: int, claims_path: str, run_id: str,
                  data: str, **shown: Any):
    """The first lines of every chapter: resolve the device (once: every function then takes the returned
    ``torch.device``), open its :class:`~companion.book.claims.Claims`, record the data used and print what
    produced the page. ``companion plan``'s estimate of the run is made by the runner before the kernel starts,
    from the parameters it resolved, and kept in the claims file beside the measured wall time
    (:func:`companion.book.runner.plan_for`). Returns (torch.device, Claims)."""
    from companion.book.claims import Claims
    from companion.core.devices import describe_device, resolve_device

    dev = resolve_device(device)
    claims = Claims(chapter=chapter, preset=preset, device=describe_device(dev), seed=seed, path=claims_path,
                    run_id=run_id)
    claims.add_data(data)
    extra = "".join(f", {k}={v}" for k, v in shown.items())
    print(f"{chapter}: preset={preset}, device={describe_device(dev)}, seed={seed}{extra}")
    print(f"data: {data}")
    return dev, claims


def glue(name: str, value: Any) -> Any:
    """``myst_nb.glue(name, value, display=False)`` with the value made plain; returns the value. Where myst-nb
    is absent (a reader's plain Jupyter, which has no book to paste into), it only returns the value."""
    v = plain(value)
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return v
    _glue(name, v, display=False)
    return v


def glue_many(prefix: str, **values: Any) -> None:
    """Glue several values as ``{prefix}_{key}``."""
    for k, v in values.items():
        glue(f"{prefix}_{k}", v)


def progress(iterable, desc: str = "", total: int | None = None):
    """A tqdm progress bar on stderr (kept in the executed notebook, left out of the HTML page)."""
    import sys

    from tqdm.std import tqdm

    return tqdm(iterable, desc=desc, total=total, file=sys.stderr, mininterval=1.0, dynamic_ncols=False, ncols=80)
