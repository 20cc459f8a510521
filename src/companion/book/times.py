"""Estimate beside measurement: each chapter's measured wall time and the estimate ``companion plan`` made before
the run (both in its claims file, ``NAME.claims.json``), compared, and written where a reader looks for the
book's times: the README's and the rerun page's time lines are generated from the last build's claims files
by ``companion book`` (:func:`write_times`), never typed.

The README keeps its generated lines between ``<!-- times:begin -->`` and ``<!-- times:end -->``
(:func:`replace_block`); the rerun page includes ``book/times.md`` (generated, not in git).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

#: The agreement the plan promises: estimate within this factor of the measured time, either way.
FACTOR = 1.5
BEGIN, END = "<!-- times:begin -->", "<!-- times:end -->"


@dataclass(frozen=True)
class Timing:
    """One chapter's run: measured wall time (s) and the plan's estimate made before it (s; None: none)."""

    chapter: str
    preset: str
    device: str
    measured: float
    estimate: float | None
    upper_bound: bool = False

    @property
    def ratio(self) -> float | None:
        """estimate ÷ measured (None without an estimate)."""
        return self.estimate / self.measured if self.estimate is not None and self.measured > 0 else None

    def within(self, factor: float = FACTOR) -> bool:
        """Whether the estimate is within ``factor`` of the measured time either way (False without one)."""
        r = self.ratio
        return r is not None and 1.0 / factor <= r <= factor


def timing_of(chapter: str, claims: Mapping[str, Any]) -> Timing:
    """The :class:`Timing` in one chapter's claims (``wall_time_s``, ``plan.seconds``, ``plan.upper_bound``)."""
    plan = claims.get("plan") or {}
    est = plan.get("seconds")
    return Timing(chapter=chapter, preset=str(claims.get("preset", "?")), device=str(claims.get("device", "?")),
                  measured=float(claims["wall_time_s"]), estimate=float(est) if est is not None else None,
                  upper_bound=bool(plan.get("upper_bound", False)))


def read_timings(chapters_dir: Path, names: Sequence[str]) -> list[Timing]:
    """The timings of the chapters in ``names`` (in that order) that have a claims file with a wall time in
    ``chapters_dir``."""
    out = []
    for name in names:
        path = Path(chapters_dir) / f"{name}.claims.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("wall_time_s") is not None:
            out.append(timing_of(name, data))
    return out


def off_by_more(timings: Sequence[Timing], factor: float = FACTOR) -> list[str]:
    """One line per chapter whose estimate is not within ``factor`` of its measured time (or has none)."""
    return [f"{t.chapter} at {t.preset}: estimated {_s(t.estimate)}, measured {_s(t.measured)}"
            + (f" (ratio {t.ratio:.2f})" if t.ratio is not None else " (no estimate)")
            for t in timings if not t.within(factor)]


def _s(seconds: float | None) -> str:
    from companion.book.plan import human_seconds

    return "—" if seconds is None else human_seconds(seconds)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 600 else f"{seconds / 60:.1f} min"


def times_markdown(timings: Sequence[Timing], *, heading: str = "") -> str:
    """A Markdown table, one row per chapter: measured, estimated before the run, estimate ÷ measured; then the
    totals in one sentence. Empty input gives a sentence saying no build has run yet."""
    if not timings:
        return "No chapter has been built yet: `make book` writes the measured times here.\n"
    presets = sorted({t.preset for t in timings})
    devices = sorted({t.device for t in timings})
    lines = [heading, ""] if heading else []
    lines += ["| chapter | measured | estimated before the run | estimate ÷ measured |", "|---|---:|---:|---:|"]
    for t in timings:
        est = ("≤ " if t.upper_bound else "") + _s(t.estimate) if t.estimate is not None else "—"
        lines.append(f"| `{t.chapter}` | {_s(t.measured)} | {est} | "
                     + (f"{t.ratio:.2f}" if t.ratio is not None else "—") + " |")
    meas = sum(t.measured for t in timings)
    est = [t.estimate for t in timings if t.estimate is not None]
    ratios = [t.ratio for t in timings if t.ratio is not None]
    summary = (f"The last build ({', '.join(presets)} preset, device {', '.join(devices)}) ran {len(timings)} "
               f"chapters in **{_minutes(meas)}** of chapter time")
    if len(est) == len(timings):
        summary += f"; `companion plan` had estimated {_minutes(sum(est))}"
    if ratios:
        summary += (f"; estimate ÷ measured per chapter from {min(ratios):.2f} to {max(ratios):.2f}, "
                    f"{sum(1.0 / FACTOR <= r <= FACTOR for r in ratios)} of {len(ratios)} within {FACTOR:g}×")
    lines += ["", summary + "."]
    return "\n".join(lines) + "\n"


def replace_block(text: str, body: str) -> str:
    """``text`` with what lies between :data:`BEGIN` and :data:`END` replaced by ``body`` (markers kept);
    a ValueError when the markers are missing or out of order."""
    i, j = text.find(BEGIN), text.find(END)
    if i < 0 or j < i:
        raise ValueError(f"no {BEGIN} … {END} block to fill")
    return text[: i + len(BEGIN)] + "\n" + body.rstrip("\n") + "\n" + text[j:]


def write_times(chapters_dir: Path, book_dir: Path, names: Sequence[str], readme: Path | None = None) -> str:
    """Write the times of the last build (claims files in ``chapters_dir``) to ``book_dir/times.md`` (included by
    the rerun page) and into ``readme``'s times block when it has one; returns the Markdown."""
    from companion.book.claims import atomic_write_text

    body = times_markdown(read_timings(chapters_dir, names))
    atomic_write_text(Path(book_dir) / "times.md", body)
    if readme is not None and Path(readme).exists():
        text = Path(readme).read_text(encoding="utf-8")
        if BEGIN in text:
            new = replace_block(text, body)
            if new != text:
                atomic_write_text(Path(readme), new)
    return body


def ratio_text(measured: float, plan: Mapping[str, Any] | None) -> str:
    """The time line of a chapter page's box: measured, and the estimate made before the run beside it."""
    est = (plan or {}).get("seconds")
    line = f"wall time {_s(measured)}"
    if est is None or not math.isfinite(float(est)):
        return line + " (no estimate was made before the run)"
    r = float(est) / measured if measured > 0 else math.nan
    return (line + f", estimated {'≤ ' if (plan or {}).get('upper_bound') else '~'}{_s(float(est))} before the run by "
            f"`companion plan` (estimate ÷ measured {r:.2f})")


