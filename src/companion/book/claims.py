"""Claims: what a chapter measured, beside the paper's number, a closed form or a bound, with a verdict.

Three kinds:

- **checks**: the paper's mathematics against our numbers: a number against a closed form or a bound at a
  stated tolerance; they *hold* or *fail*, and a failing check fails the run. A theorem's verdict comes from
  its checks alone;
- **sanity** checks: true by construction, code equivalence (fast = naive), arithmetic on our own notes.
  Recorded like checks (``kind="sanity"``) and they fail the run when they fail, but they never count toward
  a paper's verdict;
- **findings** about a paper's statement: an estimate with an interval over independent replicates, judged
  against the threshold registered for the statement part it names (``statements.yaml``, see
  :mod:`companion.book.statements`); the outcome is *reproduced*, *not reproduced* or *inconclusive*. A
  finding never fails the run: a negative finding is a result, shown as one. :meth:`Claims.judge` also
  records the outcome across a band of thresholds (``threshold_band``; ``fragile`` if it changes there) and
  the training **gate**: a finding on untrained networks is *inconclusive* whatever its numbers say
  (``outcome_if_trained`` keeps what they say), so untrained settings never vote.

Every chapter records its claims through :class:`Claims` and saves them atomically to
``NAME.claims.json``. Verdicts and outcomes are computed here from the numbers, never passed in, so a
notebook cannot declare a claim true. The book's dashboard is generated from these files.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal

from companion.book import statements as registry
from companion.core.files import atomic_write_text
from companion.core.tables import fmt_number

Comparison = Literal["abs", "rel", "at_most", "at_least", "true", "threshold"]
ClaimKind = Literal["check", "sanity", "finding"]
CheckKind = Literal["check", "sanity"]
Outcome = Literal["reproduced", "not reproduced", "inconclusive"]
GateState = Literal["trained", "untrained"]
Side = Literal["below", "above"]
Rule = Callable[[float], Outcome]
OUTCOMES: tuple[str, ...] = ("reproduced", "not reproduced", "inconclusive")

SCHEMA_VERSION = 3
ACCEPTED_SCHEMAS: tuple[int, ...] = (2, 3)     # 2: before statements, kinds check/finding only


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
    ``outcome``; ``holds`` is True for them (a finding is a result, never a failure of the run). Their
    comparison is ``threshold`` (from :meth:`Claims.judge`): judged at the registered ``threshold`` of the ``statement``
    part (also the ``reference``), on the ``side`` the statement predicts (``below`` / ``above``, or
    ``rule`` for a custom rule), with ``threshold_band``, ``fragile``, ``flips``, ``gate`` and
    ``gate_detail`` (see :meth:`Claims.judge`).
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
    kind: ClaimKind = "check"
    outcome: Outcome | None = None
    low: float | None = None
    high: float | None = None
    statement: str | None = None                      # "STATEMENT:PART" of the registry (findings), or None
    provenance: str | None = None                     # the part's provenance (text, abstract, derived, our reading)
    gate: GateState | None = None
    gate_detail: dict[str, Any] | None = None         # quantity, criterion, value, measured
    outcome_if_trained: Outcome | None = None         # the outcome at the threshold, gate aside
    threshold: float | None = None
    side: str | None = None                           # below, above or rule
    threshold_band: list[dict[str, Any]] | None = None  # [{threshold, outcome}], increasing thresholds
    fragile: bool | None = None                       # the outcome changes inside the band
    flips: list[dict[str, Any]] | None = None         # [{between: [t1, t2], from, to}] where it changes
    replicates: int | None = None                     # independent replicates behind the interval
    primary: bool | None = None                       # (findings) the part's most representative setting
    votes: bool | None = None                         # (findings) False: our own view (e.g. after aligning
                                                      # units), shown beside the paper's but never voting
    converged: float | None = None                    # (findings) share of the runs behind it that converged
    steps: dict[str, float] | None = None             # (findings) steps those runs took (e.g. mean, min, max, cap)


def threshold_outcome(low: float, high: float, threshold: float, side: Side) -> Outcome:
    """The outcome of an interval [low, high] against a threshold: ``side="below"``: reproduced if the whole
    interval lies at or below it, not reproduced if wholly above, inconclusive if it straddles;
    ``side="above"`` the mirror image. A NaN interval is inconclusive."""
    lo, hi, t = float(low), float(high), float(threshold)
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        return "inconclusive"
    if side == "below":
        return "reproduced" if hi <= t else "not reproduced" if lo > t else "inconclusive"
    if side == "above":
        return "reproduced" if lo >= t else "not reproduced" if hi < t else "inconclusive"
    raise ValueError(f"unknown side {side!r}: choose below or above (or pass a rule)")


def two_sample_rule(p_adjusted: float, low: float, high: float, *, alpha: float) -> Rule:
    """The rule for a rate against a paper's count, with the largest interval width as its threshold:
    not reproduced if the (Holm-adjusted) exact test rejects at ``alpha`` (p_adjusted ≤ alpha); else
    reproduced if the interval's width high − low is at most the threshold, inconclusive if wider (no
    significant difference, but an interval too wide to matter)."""
    p, width = float(p_adjusted), float(high) - float(low)

    def rule(max_width: float) -> Outcome:
        if math.isnan(p) or math.isnan(width):
            return "inconclusive"
        if p <= alpha:
            return "not reproduced"
        return "reproduced" if width <= max_width else "inconclusive"

    return rule


@dataclass(frozen=True)
class Gate:
    """Whether a setting's networks are trained, by the criterion registered for a statement part:
    ``measured`` ``criterion`` (at_most: ≤, at_least: ≥) ``value``. Make one with :func:`gate_from`."""

    quantity: str
    criterion: registry.Criterion
    value: float
    measured: float

    @property
    def trained(self) -> bool:
        m = float(self.measured)
        if not math.isfinite(m):
            return False
        return m <= self.value if self.criterion == "at_most" else m >= self.value

    @property
    def state(self) -> GateState:
        return "trained" if self.trained else "untrained"

    def detail(self) -> dict[str, Any]:
        return {"quantity": self.quantity, "criterion": self.criterion, "value": self.value,
                "measured": _finite_or_none(self.measured)}


def gate_from(statement_part: str, measured: float) -> Gate:
    """The gate of a setting whose gate quantity is ``measured``, by the criterion registered for
    ``statement_part`` (``"STATEMENT:PART"``; e.g. ``gate_from("P1.fig1:endpoint", loss / zero_loss)``)."""
    _, part = registry.part(statement_part)
    if part.gate is None:
        raise ValueError(f"{statement_part} is judged by checks and has no training gate")
    g = part.gate
    return Gate(quantity=g.quantity, criterion=g.criterion, value=g.value, measured=float(measured))


def _band_record(rule: Rule, thresholds: list[float]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    band, flips = [], []
    for t in thresholds:
        o = rule(t)
        if o not in OUTCOMES:
            raise ValueError(f"a rule must return one of {OUTCOMES}, got {o!r}")
        band.append({"threshold": t, "outcome": o})
    for a, b in zip(band, band[1:]):
        if a["outcome"] != b["outcome"]:
            flips.append({"between": [a["threshold"], b["threshold"]], "from": a["outcome"], "to": b["outcome"]})
    return band, flips


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

    def _new_id(self, id: str) -> None:
        if any(c.id == id for c in self.claims):
            raise ValueError(f"claim id {id!r} recorded twice in chapter {self.chapter!r}")

    def _add(self, id: str, description: str, measured: float, reference: float | None, tolerance: float,
             comparison: Comparison, paper: float | None, note: str, kind: CheckKind = "check",
             statement: str | None = None) -> Claim:
        self._new_id(id)
        if kind not in ("check", "sanity"):
            raise ValueError(f"claim {id!r}: a check's kind is check or sanity, got {kind!r}")
        provenance = None
        if statement is not None:
            if kind == "sanity":
                raise ValueError(f"claim {id!r}: a sanity check never judges a statement (drop statement=)")
            _, part = registry.part(statement)
            if part.judged_by != "checks":
                raise ValueError(f"claim {id!r}: {statement} is judged by findings (use claims.judge)")
            provenance = part.provenance
        if tolerance < 0:
            raise ValueError(f"claim {id!r}: tolerance must be ≥ 0, got {tolerance}")
        measured = float(measured)
        reference = _finite_or_none(reference) if reference is not None else None
        holds = verdict(measured, reference, tolerance, comparison)
        claim = Claim(id=id, description=description, measured=measured, reference=reference,
                      tolerance=float(tolerance), comparison=comparison, holds=holds,
                      paper=_finite_or_none(paper), note=note, kind=kind, statement=statement,
                      provenance=provenance)
        self.claims.append(claim)
        return claim

    # Every check method takes kind="check" (the paper's mathematics against our numbers) or kind="sanity"
    # (true by construction, code equivalence, arithmetic on our notes), and, for a check, optionally the
    # theorem part it bears on (part=, "STATEMENT:PART" of a part judged by checks).

    def close(self, id: str, description: str, measured: float, reference: float, tolerance: float, *,
              relative: bool = False, paper: float | None = None, note: str = "",
              kind: CheckKind = "check", part: str | None = None) -> Claim:
        """Claim ``measured ≈ reference`` within ``tolerance`` (absolute, or relative if asked)."""
        return self._add(id, description, measured, reference, tolerance, "rel" if relative else "abs", paper, note,
                         kind, part)

    def at_most(self, id: str, description: str, measured: float, bound: float, tolerance: float = 0.0, *,
                paper: float | None = None, note: str = "", kind: CheckKind = "check",
                part: str | None = None) -> Claim:
        """Claim ``measured ≤ bound (+ tolerance)``."""
        return self._add(id, description, measured, bound, tolerance, "at_most", paper, note, kind, part)

    def at_least(self, id: str, description: str, measured: float, bound: float, tolerance: float = 0.0, *,
                 paper: float | None = None, note: str = "", kind: CheckKind = "check",
                 part: str | None = None) -> Claim:
        """Claim ``measured ≥ bound (− tolerance)``."""
        return self._add(id, description, measured, bound, tolerance, "at_least", paper, note, kind, part)

    def true(self, id: str, description: str, statement: bool, *, note: str = "", kind: CheckKind = "check",
             part: str | None = None) -> Claim:
        """Claim a boolean statement computed from the run (e.g. 'decreasing in I')."""
        return self._add(id, description, 1.0 if bool(statement) else 0.0, None, 0.0, "true", None, note, kind, part)

    def judge(self, id: str, description: str, *, statement: str, estimate: float, low: float, high: float,
              side: Side | Rule, gate: Gate, replicates: int, paper: float | None = None, note: str = "",
              primary: bool = False, votes: bool = True, converged: float | None = None,
              steps: dict[str, float] | None = None) -> Claim:
        """A finding on the statement part ``statement`` (``"STATEMENT:PART"``, e.g. ``"P1.fig1:endpoint"``),
        judged at the threshold registered for that part.

        ``estimate`` with the interval [low, high] over ``replicates`` independent replicates (seed triples,
        data sets, seeds; never the pairs of one triple). ``side``: ``"below"`` — reproduced if the interval
        lies at or below the threshold, not reproduced if wholly above, inconclusive otherwise; ``"above"``
        the mirror image; or a rule ``callable(threshold) -> outcome`` (e.g. :func:`two_sample_rule`).
        ``gate``: from :func:`gate_from` for this part (its registered criterion); if the setting is
        untrained the outcome is *inconclusive* and ``outcome_if_trained`` keeps what the numbers say.
        Also recorded: the outcome at every threshold of the part's band (:func:`statements.band`), whether
        it changes there (``fragile``) and where (``flips``). ``primary``: this setting is the part's most
        representative one (the front page quotes it). ``votes=False``: a view of our own beside the paper's (e.g.
        the measure after aligning units, which P1 does not plot): recorded and shown, never counted in a verdict.
        ``converged``, ``steps``: the share of the finding's training runs that converged, and the steps they
        took (recorded as given).
        """
        self._new_id(id)
        if primary and not votes:
            raise ValueError(f"finding {id!r}: a primary finding must vote")
        _, part = registry.part(statement)
        if part.judged_by != "findings" or part.threshold is None or part.gate is None:
            raise ValueError(f"finding {id!r}: {statement} is judged by checks; record checks with part={statement!r}")
        g = part.gate
        if not isinstance(gate, Gate) or (gate.quantity, gate.criterion, gate.value) != (g.quantity, g.criterion, g.value):
            raise ValueError(f"finding {id!r}: the gate must be the one registered for {statement} "
                             f"({g.quantity} {g.criterion} {g.value}); make it with gate_from({statement!r}, measured)")
        if int(replicates) < 1:
            raise ValueError(f"finding {id!r}: replicates must be ≥ 1, got {replicates}")
        if callable(side):
            rule, side_name = side, "rule"
        else:
            threshold_outcome(0.0, 0.0, 0.0, side)           # validates the side
            rule, side_name = (lambda t, s=side: threshold_outcome(low, high, t, s)), str(side)
        band, flips = _band_record(rule, registry.band(part.threshold))
        at = rule(part.threshold.value)
        claim = Claim(id=id, description=description, measured=float(estimate), reference=part.threshold.value,
                      tolerance=0.0, comparison="threshold", holds=True, paper=_finite_or_none(paper), note=note,
                      kind="finding", outcome=at if gate.trained else "inconclusive",
                      low=_finite_or_none(low), high=_finite_or_none(high), statement=statement,
                      provenance=part.provenance, gate=gate.state, gate_detail=gate.detail(),
                      outcome_if_trained=at, threshold=part.threshold.value, side=side_name, threshold_band=band,
                      fragile=bool(flips), flips=flips, replicates=int(replicates), primary=bool(primary),
                      votes=bool(votes), converged=None if converged is None else float(converged),
                      steps=None if steps is None else {k: float(v) for k, v in steps.items()})
        self.claims.append(claim)
        return claim

    def checks(self) -> list[Claim]:
        """The checks (kind check: the paper's mathematics against our numbers)."""
        return [c for c in self.claims if c.kind == "check"]

    def sanity(self) -> list[Claim]:
        """The sanity checks (they fail the run when they fail; they never count toward a verdict)."""
        return [c for c in self.claims if c.kind == "sanity"]

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
            "registry_hash": registry.registry_hash(),
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
    if not isinstance(data, dict) or data.get("schema") not in ACCEPTED_SCHEMAS or "claims" not in data:
        raise ValueError(f"claims file {path} has an unknown layout; rerun the chapter")
    return data


def _fmt(x: float | None) -> str:
    return fmt_number(x)


_SYMBOL = {"abs": "±", "rel": "± rel", "at_most": "≤", "at_least": "≥", "true": ""}
_OUR_READING = "under our definitions"


def verdict_html(verdict: str) -> str:
    """The verdict as a word in a coloured label (readable without colour or emoji fonts; CSS in
    book/_static/companion.css): holds, FAILS, reproduced, NOT reproduced, inconclusive, partly reproduced,
    mixed, no result."""
    word = {"fails": "FAILS", "not reproduced": "NOT reproduced"}.get(verdict, verdict)
    return f'<span class="verdict verdict-{verdict.replace(" ", "-")}">{word}</span>'


VERDICT_WORDS = {v: verdict_html(v) for v in ("holds", "fails", *OUTCOMES)}


def claim_verdict(c: dict[str, Any]) -> str:
    """The verdict in words: holds / fails for checks and sanity checks, the outcome for findings."""
    if c.get("kind", "check") == "finding":
        return str(c["outcome"])
    return "holds" if c["holds"] else "fails"


def _interval(lo: float | None, hi: float | None) -> str:
    return f"[{_fmt(lo) if lo is not None else '−∞'}, {_fmt(hi) if hi is not None else '∞'}]"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def num_html(text: str) -> str:
    """A number (or an interval of numbers) in a table cell that never breaks across lines (CSS ``.num``)."""
    return f'<span class="num">{text}</span>'


_SCI = re.compile(r"-?\d+(?:\.\d+)?e[-+]\d+")


def nums_html(text: str) -> str:
    """``text`` with each number in scientific notation made unbreakable (:func:`num_html`): a browser may
    otherwise break ``9.764e-12`` after its hyphen."""
    return _SCI.sub(lambda m: num_html(m.group(0)), text)


def _check_rows(claims: list[dict[str, Any]], chapter: str | None) -> list[str]:
    head = "| verdict | " + ("chapter | " if chapter else "") + "check | what | paper | reference | measured | test |"
    rows = [head, "|" + "---|" * (8 if chapter else 7)]
    for c in claims:
        comp = c["comparison"]
        if comp == "true":
            test, measured = "statement", ("true" if c["measured"] == 1.0 else "false")
        else:
            sym = _SYMBOL[comp]
            test = num_html(f"{sym} {_fmt(c['tolerance'])}" if comp in ("abs", "rel") else (
                f"{sym} ref" + (f" (tol {_fmt(c['tolerance'])})" if c["tolerance"] else "")))
            measured = num_html(_fmt(c["measured"]))
        desc = _cell(c["description"]) + (f" (bears on `{c['statement']}`)" if c.get("statement") else "")
        prefix = f" {chapter} |" if chapter else ""
        rows.append(f"| {VERDICT_WORDS[claim_verdict(c)]} |{prefix} `{c['id']}` | {desc} | {num_html(_fmt(c['paper']))} | "
                    f"{num_html(_fmt(c['reference']))} | {measured} | {test} |")
    return rows


def gate_text(c: dict[str, Any]) -> str:
    """The gate of a finding in words, e.g. 'trained (0.32 ≤ 0.5)' or 'untrained (0.97 > 0.5): does not vote'."""
    if c.get("gate") is None:
        return "not recorded"
    d = c.get("gate_detail") or {}
    ok = c["gate"] == "trained"
    sym = {("at_most", True): "≤", ("at_most", False): ">", ("at_least", True): "≥", ("at_least", False): "<"}
    m = d.get("measured")
    num = f" ({_fmt(m)} {sym.get((d.get('criterion'), ok), '?')} {_fmt(d.get('value'))})" if m is not None else " (not measured)"
    return "trained" + num if ok else "**untrained**" + num + ": does not vote"


def flips_text(c: dict[str, Any]) -> str:
    """Where a finding's outcome changes inside its threshold band ('' if it does not)."""
    return "; ".join(f"{f['from']} → {f['to']} between {_fmt(f['between'][0])} and {_fmt(f['between'][1])}"
                     for f in c.get("flips") or [])


def judged_text(c: dict[str, Any]) -> str:
    """What a finding is judged against, with its band."""
    band = c.get("threshold_band") or []
    where = {"below": "at or below", "above": "at or above"}.get(c.get("side") or "", "rule at")
    span = f"{_fmt(band[0]['threshold'])}–{_fmt(band[-1]['threshold'])}" if band else "—"
    mark = (f"**fragile**: {flips_text(c)}" if c.get("fragile") else f"stable over the band {span}")
    return f"{where} {_fmt(c['threshold'])}; {mark}"


def outcome_text(c: dict[str, Any]) -> str:
    """The outcome label of a finding, with 'would be …' for an untrained one and 'under our definitions'
    for a finding on our reading of a statement."""
    out = VERDICT_WORDS[claim_verdict(c)]
    if c.get("gate") == "untrained" and c.get("outcome_if_trained"):
        out += f" (untrained; the numbers say {c['outcome_if_trained']})"
    if c.get("provenance") == "our reading":
        out += f" {_OUR_READING}"
    return out


def _finding_rows(claims: list[dict[str, Any]], chapter: str | None) -> list[str]:
    head = "| outcome | " + ("chapter | " if chapter else "") + ("finding | what | statement part | gate | paper | "
                                                                 "measured [interval] | judged |")
    rows = [head, "|" + "---|" * (9 if chapter else 8)]
    for c in claims:
        st = f"`{c['statement']}`"
        reps = f" ({c['replicates']} replicates)" if c.get("replicates") else ""
        prefix = f" {chapter} |" if chapter else ""
        rows.append(f"| {outcome_text(c)} |{prefix} `{c['id']}`{' (primary)' if c.get('primary') else ''} | "
                    f"{_cell(c['description'])} | {st} | {nums_html(gate_text(c))} | {num_html(_fmt(c['paper']))} | "
                    f"{num_html(_fmt(c['measured']))} {num_html(_interval(c['low'], c['high']))}{reps} | "
                    f"{nums_html(_cell(judged_text(c)))} |")
    return rows


SANITY_HEADING = ("**Sanity checks** (true by construction, code equivalence or arithmetic on our own notes: "
                  "they fail the run when they fail, but never count toward a paper's verdict)")


def claims_markdown_table(claims: Iterable[dict[str, Any]], chapter: str | None = None, *,
                          sanity: bool = True) -> str:
    """Markdown: a table of the checks (verdict holds / fails), one of the sanity checks (unless
    ``sanity=False``), then one of the findings about the paper (outcome reproduced / not reproduced /
    inconclusive), each only if there are any."""
    claims = list(claims)
    checks = [c for c in claims if c.get("kind", "check") == "check"]
    sane = [c for c in claims if c.get("kind") == "sanity"]
    findings = [c for c in claims if c.get("kind", "check") == "finding"]
    parts = []
    if checks:
        parts.append("\n".join(_check_rows(checks, chapter)))
    if sane and sanity:
        parts.append(SANITY_HEADING + "\n\n" + "\n".join(_check_rows(sane, chapter)))
    if findings:
        parts.append("**Findings about the paper** (not checks: an outcome, never a pass or a fail; untrained "
                     "settings are shown but never vote)\n\n" + "\n".join(_finding_rows(findings, chapter)))
    return "\n\n".join(parts)
