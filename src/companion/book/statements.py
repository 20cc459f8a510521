"""The registry of the papers' statements (``statements.yaml`` beside this module), loaded and validated.

A statement is one item of a paper (a figure, a table, a theorem), split into atomic **parts**; a finding
names the part it judges as ``"STATEMENT:PART"`` (e.g. ``"P1.fig1:endpoint"``). A part judged by findings
registers its **threshold** (with a sentence saying why that value) and its **gate** (what "trained" means
for the networks it judges); a part judged by checks (a theorem) has neither. Every claims file records
:func:`registry_hash`, so a threshold changed after a run shows.

Threshold bands (:func:`band`): a finding records its outcome across a band of thresholds around the
registered one. For a non-zero threshold the band is multiplicative, ``(0.5, 0.75, 1, 1.5, 2, 3) × value``;
for a threshold of 0 (a sign test on a slope) a multiple of 0 is 0, so the band is additive instead,
``value + (−2, −1, −0.5, 0, 0.5, 1, 2) × margin``, with the margin registered beside the threshold.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import yaml

Paper = Literal["P1", "P2"]
StatementKind = Literal["experiment", "theorem"]
Provenance = Literal["text", "abstract", "derived", "our reading"]
JudgedBy = Literal["findings", "checks"]
Criterion = Literal["at_most", "at_least"]

PAPERS: tuple[str, ...] = ("P1", "P2")
KINDS: tuple[str, ...] = ("experiment", "theorem")
PROVENANCES: tuple[str, ...] = ("text", "abstract", "derived", "our reading")
CRITERIA: tuple[str, ...] = ("at_most", "at_least")
MULTIPLICATIVE_BAND: tuple[float, ...] = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
ADDITIVE_BAND: tuple[float, ...] = (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0)
FILENAME = "statements.yaml"


@dataclass(frozen=True)
class Threshold:
    """A registered threshold: ``value`` in ``unit``; ``margin`` (only for value 0) scales the additive band."""

    value: float
    unit: str
    why: str
    margin: float | None = None


@dataclass(frozen=True)
class GateRule:
    """What "trained" means for a part's networks: ``quantity`` ``criterion`` (≤ or ≥) ``value``."""

    quantity: str
    criterion: Criterion
    value: float
    why: str


@dataclass(frozen=True)
class Level:
    """The level of a test a part's rule uses (e.g. α = 0.05), with why."""

    value: float
    why: str


@dataclass(frozen=True)
class Part:
    """One atomic part of a statement."""

    id: str
    says: str
    judged_by: JudgedBy
    provenance: Provenance
    threshold: Threshold | None = None
    gate: GateRule | None = None
    alpha: Level | None = None
    convergence: Level | None = None       # when a training run counts as converged (e.g. a loss tolerance)


@dataclass(frozen=True)
class Statement:
    """One item of a paper, with its parts in registry order."""

    id: str
    paper: Paper
    where: str
    kind: StatementKind
    chapters: tuple[str, ...]
    says: str
    provenance: Provenance
    parts: tuple[Part, ...]

    def part(self, part_id: str) -> Part:
        for p in self.parts:
            if p.id == part_id:
                return p
        raise ValueError(f"statement {self.id!r} has no part {part_id!r}; its parts: "
                         f"{', '.join(p.id for p in self.parts)}")


def band(threshold: Threshold) -> list[float]:
    """The thresholds a finding is also judged at (see the module docstring), in increasing order."""
    if threshold.value == 0:
        if threshold.margin is None:
            raise ValueError("a threshold of 0 needs a margin for its (additive) band")
        return [round(threshold.value + k * threshold.margin, 12) for k in ADDITIVE_BAND]
    return sorted(round(k * threshold.value, 12) for k in MULTIPLICATIVE_BAND)


def _need(d: dict[str, Any], key: str, where: str) -> Any:
    if key not in d or d[key] in (None, ""):
        raise ValueError(f"{where}: missing {key!r}")
    return d[key]


def _choice(value: Any, choices: tuple[str, ...], what: str, where: str) -> str:
    if value not in choices:
        raise ValueError(f"{where}: unknown {what} {value!r}; choose one of {', '.join(choices)}")
    return str(value)


def _threshold(raw: dict[str, Any], where: str) -> Threshold:
    value = float(_need(raw, "value", where))
    margin = raw.get("margin")
    if value == 0 and (margin is None or float(margin) <= 0):
        raise ValueError(f"{where}: a threshold of 0 needs a margin > 0 (its band is additive)")
    if value != 0 and margin is not None:
        raise ValueError(f"{where}: a margin is only for a threshold of 0 (a non-zero one has a multiplicative band)")
    return Threshold(value=value, unit=str(_need(raw, "unit", where)), why=str(_need(raw, "why", where)),
                     margin=None if margin is None else float(margin))


def _part(raw: dict[str, Any], st_kind: str, st_prov: str, where: str) -> Part:
    pid = str(_need(raw, "id", where))
    where = f"{where}:{pid}"
    judged = _choice(raw.get("judged_by", "findings" if st_kind == "experiment" else "checks"),
                     ("findings", "checks"), "judged_by", where)
    prov = _choice(raw.get("provenance", st_prov), PROVENANCES, "provenance", where)
    thr = gate = alpha = conv = None
    if judged == "findings":
        thr = _threshold(_need(raw, "threshold", where), where + " threshold")
        g = _need(raw, "gate", where)
        gate = GateRule(quantity=str(_need(g, "quantity", where + " gate")),
                        criterion=_choice(_need(g, "criterion", where + " gate"), CRITERIA, "criterion", where),
                        value=float(_need(g, "value", where + " gate")), why=str(_need(g, "why", where + " gate")))
        if "alpha" in raw:
            a = raw["alpha"]
            alpha = Level(value=float(_need(a, "value", where + " alpha")), why=str(_need(a, "why", where + " alpha")))
            if not 0 < alpha.value < 1:
                raise ValueError(f"{where}: alpha must lie in (0, 1), got {alpha.value}")
        if "convergence" in raw:
            c = raw["convergence"]
            conv = Level(value=float(_need(c, "value", where + " convergence")),
                         why=str(_need(c, "why", where + " convergence")))
            if conv.value < 0:
                raise ValueError(f"{where}: a convergence tolerance must be ≥ 0, got {conv.value}")
    elif any(k in raw for k in ("threshold", "gate", "alpha", "convergence")):
        raise ValueError(f"{where}: a part judged by checks has no threshold, gate, alpha or convergence")
    return Part(id=pid, says=str(_need(raw, "says", where)), judged_by=judged, provenance=prov,  # type: ignore[arg-type]
                threshold=thr, gate=gate, alpha=alpha, convergence=conv)


def parse_registry(text: str) -> dict[str, Statement]:
    """Validate the registry's YAML text and return its statements by id, in file order."""
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict) or not isinstance(raw.get("statements"), list):
        raise ValueError("the statements registry must be a mapping with a list 'statements'")
    out: dict[str, Statement] = {}
    for i, s in enumerate(raw["statements"]):
        where = f"statement #{i + 1}"
        sid = str(_need(s, "id", where))
        where = f"statement {sid!r}"
        if sid in out:
            raise ValueError(f"{where} is registered twice")
        paper = _choice(_need(s, "paper", where), PAPERS, "paper", where)
        if not sid.startswith(paper + "."):
            raise ValueError(f"{where}: its id must start with its paper, {paper}.")
        kind = _choice(_need(s, "kind", where), KINDS, "kind", where)
        prov = _choice(_need(s, "provenance", where), PROVENANCES, "provenance", where)
        if (paper == "P1") != (prov == "text"):
            raise ValueError(f"{where}: P1's statements have provenance 'text', P2's abstract, derived or our reading")
        chapters = _need(s, "chapter", where)
        chapters = (chapters,) if isinstance(chapters, str) else tuple(str(c) for c in chapters)
        parts = tuple(_part(p, kind, prov, where) for p in _need(s, "parts", where))
        ids = [p.id for p in parts]
        if paper == "P1" and any(p.provenance != "text" for p in parts):
            raise ValueError(f"{where}: P1's parts have provenance 'text'")
        if len(set(ids)) != len(ids):
            raise ValueError(f"{where}: a part id is repeated ({ids})")
        out[sid] = Statement(id=sid, paper=paper, where=str(_need(s, "where", where)), kind=kind,  # type: ignore[arg-type]
                             chapters=chapters, says=str(_need(s, "says", where)), provenance=prov,  # type: ignore[arg-type]
                             parts=parts)
    return out


def _registry_bytes() -> bytes:
    return resources.files("companion.book").joinpath(FILENAME).read_bytes()


def registry_hash() -> str:
    """The first 16 hex digits of the sha256 of ``statements.yaml``'s bytes (recorded in every claims file)."""
    return hashlib.sha256(_registry_bytes()).hexdigest()[:16]


@lru_cache(maxsize=1)
def _registry() -> dict[str, Statement]:
    return parse_registry(_registry_bytes().decode("utf-8"))


def statements() -> dict[str, Statement]:
    """Every registered statement by id, in registry (page) order."""
    return dict(_registry())


def statement(statement_id: str) -> Statement:
    """One statement; an unknown id raises ValueError naming the valid ones."""
    reg = _registry()
    if statement_id not in reg:
        raise ValueError(f"unknown statement {statement_id!r}; registered: {', '.join(reg)}")
    return reg[statement_id]


def parse_ref(ref: str) -> tuple[str, str]:
    """``"P1.fig1:endpoint"`` → ``("P1.fig1", "endpoint")``."""
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise ValueError(f"a statement part is named 'STATEMENT:PART' (e.g. 'P1.fig1:endpoint'), got {ref!r}")
    sid, pid = ref.split(":")
    return sid, pid


def part(ref: str) -> tuple[Statement, Part]:
    """The statement and part named by ``ref`` (``"STATEMENT:PART"``); unknown ones raise ValueError
    naming the valid ones."""
    sid, pid = parse_ref(ref)
    st = statement(sid)
    return st, st.part(pid)


def part_refs() -> list[str]:
    """Every part as ``"STATEMENT:PART"``, in registry order."""
    return [f"{s.id}:{p.id}" for s in _registry().values() for p in s.parts]
