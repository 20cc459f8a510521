"""Claims: what a chapter measured, beside the paper's number, a closed form or a bound, with a verdict.

Two kinds:

- **checks**: a number against a closed form or a bound at a stated tolerance; they *hold* or *fail*, and a
  failing check fails the run (the code or the mathematics is wrong);
- **findings** about a paper's empirical statement: an estimate with an interval (over seeds) against what
  the paper's statement predicts, fixed before the run; the outcome is *reproduced*, *not reproduced* or
  *inconclusive*. A finding never fails the run: a negative finding is a result, shown as one.

Every chapter records its claims through :class:`Claims` and saves them atomically to
``NAME.claims.json``. Verdicts and outcomes are computed here from the numbers, never passed in, so a
notebook cannot declare a claim true. The book's dashboard is generated from these files.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

from companion.core.files import atomic_write_text

Comparison = Literal["abs", "rel", "at_most", "at_least", "true", "region", "contains"]
Kind = Literal["check", "finding"]
Outcome = Literal["reproduced", "not reproduced", "inconclusive"]
OUTCOMES: tuple[str, ...] = ("reproduced", "not reproduced", "inconclusive")

SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Claim:
    """One claim.

    ``comparison`` says how ``holds`` was decided:
    ``abs``: |measured − reference| ≤ tolerance; ``rel``: |measured − reference| ≤ tolerance·|reference|;
    ``at_most``: measured ≤ reference + tolerance; ``at_least``: measured ≥ reference − tolerance;
    ``true``: a boolean statement (measured is 1.0 or 0.0).
    ``paper`` is the paper's own number when it has one, ``reference`` the number compared with
    (the paper's number, a closed form, or a bound).

    Findings (``kind == "finding"``) carry an interval [``low``, ``high``] around ``measured`` and an
    ``outcome``; ``holds`` is True for them (a finding is a result, never a failure of the run):
    ``region``: the paper's statement predicts a value in [``region_low``, ``region_high``] (None: open);
    reproduced if the interval lies inside it, not reproduced if outside, inconclusive if it straddles.
    ``contains``: reproduced if the paper's number (``reference``) lies in the interval, else not.
    """

    id: str
    description: str
    measured: float
    reference: float | None
    tolerance: float
    comparison: Comparison
    holds: bool
    paper: float | None = None
    note: str = ""
    kind: Kind = "check"
    outcome: Outcome | None = None
    low: float | None = None
    high: float | None = None
    region_low: float | None = None
    region_high: float | None = None


def finding_outcome(low: float, high: float, *, region: tuple[float | None, float | None] | None = None,
                    contains: float | None = None) -> Outcome:
    """The outcome of a finding whose estimate lies in [low, high] (e.g. a 95% interval over seeds).

    ``region`` = (a, b): the values the paper's statement predicts (None: unbounded on that side);
    ``contains``: the paper's own number, to be inside the interval. Give exactly one. A NaN interval is
    inconclusive.
    """
    if (region is None) == (contains is None):
        raise ValueError("give exactly one of region=(a, b) or contains=paper_value")
    lo, hi = float(low), float(high)
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        return "inconclusive"
    if contains is not None:
        return "reproduced" if lo <= float(contains) <= hi else "not reproduced"
    a = -math.inf if region[0] is None else float(region[0])
    b = math.inf if region[1] is None else float(region[1])
    if a > b:
        raise ValueError(f"empty region ({a}, {b})")
    if a <= lo and hi <= b:
        return "reproduced"
    if hi < a or lo > b:
        return "not reproduced"
    return "inconclusive"


def _finite_or_none(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def verdict(measured: float, reference: float | None, tolerance: float, comparison: Comparison) -> bool:
    """Decide a claim. NaN or infinite measurements never hold."""
    m = float(measured)
    if not math.isfinite(m):
        return False
    if comparison == "true":
        return m == 1.0
    if reference is None:
        raise ValueError(f"comparison {comparison!r} needs a reference number")
    r = float(reference)
    if comparison == "abs":
        return abs(m - r) <= tolerance
    if comparison == "rel":
        return abs(m - r) <= tolerance * abs(r)
    if comparison == "at_most":
        return m <= r + tolerance
    if comparison == "at_least":
        return m >= r - tolerance
    raise ValueError(f"unknown comparison {comparison!r}: choose abs, rel, at_most, at_least or true")


@dataclass
class Claims:
    """The claims of one chapter run.

    Parameters
    ----------
    chapter, preset, device, seed: what produced the numbers (written with every claim file).
    path: where :meth:`save` writes the JSON (atomically).
    run_id: an identifier the runner passes in, so it can tell this run's file from a stale one.
    """

    chapter: str
    preset: str
    device: str
    seed: int
    path: str | Path
    run_id: str = ""
    data: list[str] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)   # `companion plan`'s estimate for this run, made before it
    started: float = field(default_factory=time.perf_counter)

    def add_data(self, description: str) -> None:
        """Record a data set (or 'synthetic: ...') this chapter used."""
        if description not in self.data:
            self.data.append(description)

    def add_timing(self, name: str, seconds: float) -> None:
        """Record a wall time (seconds) worth showing beside the claims."""
        self.timings[name] = float(seconds)

    def _add(self, id: str, description: str, measured: float, reference: float | None, tolerance: float,
             comparison: Comparison, paper: float | None, note: str) -> Claim:
        if any(c.id == id for c in self.claims):
            raise ValueError(f"claim id {id!r} recorded twice in chapter {self.chapter!r}")
        if tolerance < 0:
            raise ValueError(f"claim {id!r}: tolerance must be ≥ 0, got {tolerance}")
        measured = float(measured)
        reference = _finite_or_none(reference) if reference is not None else None
        holds = verdict(measured, reference, tolerance, comparison)
        claim = Claim(id=id, description=description, measured=measured, reference=reference,
                      tolerance=float(tolerance), comparison=comparison, holds=holds,
                      paper=_finite_or_none(paper), note=note)
        self.claims.append(claim)
        return claim

    def close(self, id: str, description: str, measured: float, reference: float, tolerance: float, *,
              relative: bool = False, paper: float | None = None, note: str = "") -> Claim:
        """Claim ``measured ≈ reference`` within ``tolerance`` (absolute, or relative if asked)."""
        return self._add(id, description, measured, reference, tolerance, "rel" if relative else "abs", paper, note)

    def at_most(self, id: str, description: str, measured: float, bound: float, tolerance: float = 0.0, *,
                paper: float | None = None, note: str = "") -> Claim:
        """Claim ``measured ≤ bound (+ tolerance)``."""
        return self._add(id, description, measured, bound, tolerance, "at_most", paper, note)

    def at_least(self, id: str, description: str, measured: float, bound: float, tolerance: float = 0.0, *,
                 paper: float | None = None, note: str = "") -> Claim:
        """Claim ``measured ≥ bound (− tolerance)``."""
        return self._add(id, description, measured, bound, tolerance, "at_least", paper, note)

    def true(self, id: str, description: str, statement: bool, *, note: str = "") -> Claim:
        """Claim a boolean statement computed from the run (e.g. 'decreasing in I')."""
        return self._add(id, description, 1.0 if bool(statement) else 0.0, None, 0.0, "true", None, note)

    def finding(self, id: str, description: str, *, estimate: float, low: float, high: float,
                region: tuple[float | None, float | None] | None = None, contains: float | None = None,
                paper: float | None = None, note: str = "") -> Claim:
        """A finding about a paper's statement: ``estimate`` with interval [low, high], judged against the
        ``region`` the paper predicts (thresholds fixed in the presets) or against the paper's own number
        (``contains``). See :func:`finding_outcome`."""
        if any(c.id == id for c in self.claims):
            raise ValueError(f"claim id {id!r} recorded twice in chapter {self.chapter!r}")
        outcome = finding_outcome(low, high, region=region, contains=contains)
        reg = region or (None, None)
        claim = Claim(id=id, description=description, measured=float(estimate),
                      reference=_finite_or_none(contains) if contains is not None else None, tolerance=0.0,
                      comparison="contains" if contains is not None else "region", holds=True,
                      paper=_finite_or_none(paper), note=note, kind="finding", outcome=outcome,
                      low=_finite_or_none(low), high=_finite_or_none(high),
                      region_low=_finite_or_none(reg[0]), region_high=_finite_or_none(reg[1]))
        self.claims.append(claim)
        return claim

    def checks(self) -> list[Claim]:
        return [c for c in self.claims if c.kind == "check"]

    def findings(self) -> list[Claim]:
        return [c for c in self.claims if c.kind == "finding"]

    @property
    def all_hold(self) -> bool:
        return all(c.holds for c in self.claims)

    def failing(self) -> list[Claim]:
        return [c for c in self.claims if not c.holds]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "chapter": self.chapter,
            "preset": self.preset,
            "device": self.device,
            "seed": self.seed,
            "run_id": self.run_id,
            "data": list(self.data),
            "wall_time_s": time.perf_counter() - self.started,
            "timings": dict(self.timings),
            "plan": dict(self.plan),
            "claims": [asdict(c) for c in self.claims],
        }

    def save(self) -> Path:
        """Write the claims file atomically and return its path."""
        if not self.claims:
            raise ValueError(f"chapter {self.chapter!r} recorded no claims")
        path = Path(self.path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    def table(self) -> str:
        """A Markdown table of the claims (for display inside the chapter)."""
        return claims_markdown_table(self.to_dict()["claims"])


def load_claims(path: str | Path) -> dict[str, Any]:
    """Read a claims file, refusing one that is malformed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"claims file {path} is not valid JSON ({exc}); rerun the chapter") from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION or "claims" not in data:
        raise ValueError(f"claims file {path} has an unknown layout; rerun the chapter")
    return data


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if x == 0:
        return "0"
    ax = abs(x)
    if ax >= 1e4 or ax < 1e-3:
        return f"{x:.3e}"
    return f"{x:.4g}"


_SYMBOL = {"abs": "±", "rel": "± rel", "at_most": "≤", "at_least": "≥", "true": ""}


def verdict_html(verdict: str) -> str:
    """The verdict as a word in a coloured label (readable without colour or emoji fonts; CSS in
    book/_static/companion.css): holds, FAILS, reproduced, NOT reproduced, inconclusive."""
    word = {"fails": "FAILS", "not reproduced": "NOT reproduced"}.get(verdict, verdict)
    return f'<span class="verdict verdict-{verdict.replace(" ", "-")}">{word}</span>'


VERDICT_WORDS = {v: verdict_html(v) for v in ("holds", "fails", *OUTCOMES)}


def claim_verdict(c: dict[str, Any]) -> str:
    """The verdict in words: holds / fails for checks, the outcome for findings."""
    if c.get("kind", "check") == "finding":
        return str(c["outcome"])
    return "holds" if c["holds"] else "fails"


def _interval(lo: float | None, hi: float | None) -> str:
    return f"[{_fmt(lo) if lo is not None else '−∞'}, {_fmt(hi) if hi is not None else '∞'}]"


def _check_rows(claims: list[dict[str, Any]], chapter: str | None) -> list[str]:
    head = "| " + ("chapter | " if chapter else "") + "check | what | paper | reference | measured | test | verdict |"
    rows = [head, "|" + "---|" * (8 if chapter else 7)]
    for c in claims:
        comp = c["comparison"]
        if comp == "true":
            test, measured = "statement", ("true" if c["measured"] == 1.0 else "false")
        else:
            sym = _SYMBOL[comp]
            test = f"{sym} {_fmt(c['tolerance'])}" if comp in ("abs", "rel") else (
                f"{sym} ref" + (f" (tol {_fmt(c['tolerance'])})" if c["tolerance"] else ""))
            measured = _fmt(c["measured"])
        desc = c["description"].replace("|", "\\|")
        prefix = f"| {chapter} " if chapter else ""
        rows.append(f"{prefix}| `{c['id']}` | {desc} | {_fmt(c['paper'])} | {_fmt(c['reference'])} | "
                    f"{measured} | {test} | {VERDICT_WORDS[claim_verdict(c)]} |")
    return rows


def _finding_rows(claims: list[dict[str, Any]], chapter: str | None) -> list[str]:
    head = "| " + ("chapter | " if chapter else "") + "finding | what | paper | measured [interval] | the paper predicts | outcome |"
    rows = [head, "|" + "---|" * (7 if chapter else 6)]
    for c in claims:
        pred = (f"its value {_fmt(c['reference'])} inside our interval" if c["comparison"] == "contains"
                else f"a value in {_interval(c['region_low'], c['region_high'])}")
        desc = c["description"].replace("|", "\\|")
        prefix = f"| {chapter} " if chapter else ""
        rows.append(f"{prefix}| `{c['id']}` | {desc} | {_fmt(c['paper'])} | {_fmt(c['measured'])} "
                    f"{_interval(c['low'], c['high'])} | {pred} | {VERDICT_WORDS[claim_verdict(c)]} |")
    return rows


def claims_markdown_table(claims: Iterable[dict[str, Any]], chapter: str | None = None) -> str:
    """Markdown: a table of the checks (verdict holds / fails), then one of the findings about the paper
    (outcome reproduced / not reproduced / inconclusive), each only if there are any."""
    claims = list(claims)
    checks = [c for c in claims if c.get("kind", "check") == "check"]
    findings = [c for c in claims if c.get("kind", "check") == "finding"]
    parts = []
    if checks:
        parts.append("\n".join(_check_rows(checks, chapter)))
    if findings:
        parts.append("**Findings about the paper** (not checks: an outcome, never a pass or a fail)\n\n"
                     + "\n".join(_finding_rows(findings, chapter)))
    return "\n\n".join(parts)
