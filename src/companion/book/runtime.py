"""What a chapter calls: :func:`start_chapter` first (device, claims, provenance, ``companion plan``'s estimate),
then :func:`glue` to put numbers into the page's prose (myst-nb), safely for numpy and torch scalars, and
:func:`progress` bars."""

from __future__ import annotations

from typing import Any, Mapping

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
    """The first lines of every chapter: resolve the device, open its :class:`~companion.book.claims.Claims`,
    record the data used, print what produced the page and ``companion plan``'s estimate of this run (also kept
    in the claims file, beside the measured wall time). Returns (torch.device, Claims)."""
    from companion.book.claims import Claims
    from companion.core.devices import describe_device, resolve_device

    dev = resolve_device(device)
    claims = Claims(chapter=chapter, preset=preset, device=describe_device(dev), seed=seed, path=claims_path,
                    run_id=run_id)
    claims.add_data(data)
    extra = "".join(f", {k}={v}" for k, v in shown.items())
    print(f"{chapter}: preset={preset}, device={describe_device(dev)}, seed={seed}{extra}")
    print(f"data: {data}")
    line, claims.plan = plan_estimate(chapter, preset, dev.type, shown)
    print(line)
    return dev, claims


def chapter_parameters(chapter: str, preset: str, shown: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters this run uses: the preset's values, overridden by the values the notebook's namespace
    holds for them (papermill injects the run's parameters there, ``-p`` overrides included) when running in
    a kernel, and by ``shown``."""
    from companion.book.chapters import get_chapter, resolve_parameters

    params = resolve_parameters(get_chapter(chapter), preset)
    try:
        from IPython import get_ipython

        ns = getattr(get_ipython(), "user_ns", None) or {}
    except ImportError:  # pragma: no cover - IPython is a dependency of the book
        ns = {}
    params.update({k: ns[k] for k in params if k in ns})
    params.update({k: v for k, v in shown.items() if k in params})
    return params


def plan_estimate(chapter: str, preset: str, device: str, shown: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``companion plan``'s estimate for this run, as the line the chapter prints and as numbers; a chapter
    whose cost cannot be estimated says so and runs on."""
    from companion.book.plan import plan_line

    try:
        return plan_line(chapter, chapter_parameters(chapter, preset, shown), "cuda" if device == "cuda" else "cpu")
    except Exception as exc:  # noqa: BLE001 – an estimate must never stop a chapter
        return f"plan: no estimate ({type(exc).__name__}: {exc})", {}


def glue(name: str, value: Any) -> Any:
    """``myst_nb.glue(name, value, display=False)`` with the value made plain; returns the value."""
    from myst_nb import glue as _glue

    v = plain(value)
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
