"""The generated pages of the book: the claims dashboard, and the page that stands in for a chapter with no result."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import fnmatch
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import yaml

from companion.book.claims import OUTCOMES, atomic_write_text, claims_markdown_table, load_claims, verdict_html


def write_failure_page(dest: Path, name: str, preset: str, reason: str, title: str | None = None) -> Path:
    """A page that stands in for a chapter whose notebook does not exist (a dead kernel, or not run)."""
    text = (f"# {title or name}\n\n**This chapter has no result at the `{preset}` preset:** {reason}\n\n"
            f"Rerun it with `companion run {name} --preset {preset}`.\n")
    atomic_write_text(dest, text)
    return dest


def write_dashboard(chapters_dir: Path, dest: Path, names: Sequence[str], preset: str) -> Path:
    """Generate the claims dashboard page from every ``NAME.claims.json`` in ``chapters_dir``.

    Checks (hold / fail) and findings about the papers (reproduced / not reproduced / inconclusive) are
    counted apart, in words: a negative finding is never drawn as a pass."""
    lines = [
        "# Claims dashboard",
        "",
        "Every number the book claims, gathered from the chapters' claims files (`NAME.claims.json`) "
        f"by `companion book`. This build ran the **{preset}** preset. Two kinds of claim: a **check** compares "
        "a measured number with a closed form or a bound at a stated tolerance and *holds* or *fails*; a "
        "**finding** judges a paper's empirical statement from an interval over seeds, against thresholds fixed "
        "in the presets before the run, and is *reproduced*, *not reproduced* or *inconclusive*.",
        "",
        "## Chapters",
        "",
        "| chapter | preset | device | data | wall time | checks holding | findings |",
        "|---|---|---|---|---|---|---|",
    ]
    details: list[str] = []
    total = holding = 0
    outcomes = {o: 0 for o in OUTCOMES}
    for name in names:
        path = chapters_dir / f"{name}.claims.json"
        link = f"{{doc}}`{name} <chapters/{name}>`"
        if not path.exists():
            lines.append(f"| {link} | — | — | — | — | **no result** (its page says why) | — |")
            continue
        data = load_claims(path)
        cl = data["claims"]
        checks = [c for c in cl if c.get("kind", "check") == "check"]
        ok = sum(c["holds"] for c in checks)
        total += len(checks)
        holding += ok
        found = {o: sum(c.get("outcome") == o for c in cl) for o in OUTCOMES}
        for o, k in found.items():
            outcomes[o] += k
        data_s = "; ".join(data["data"]) or "—"
        check_s = f"{ok} / {len(checks)}" + ("" if ok == len(checks) else " " + verdict_html("fails"))
        find_s = ", ".join(f"{k} {o}" for o, k in found.items() if k) or "—"
        lines.append(f"| {link} | {data['preset']} | {data['device']} | {data_s} | "
                     f"{data['wall_time_s']:.1f} s | {check_s} | {find_s} |")
        details += ["", f"### {name}", "", claims_markdown_table(cl)]
    find_total = ", ".join(f"{k} {o}" for o, k in outcomes.items()) if any(outcomes.values()) else "none yet"
    lines += ["", f"**{holding} of {total} checks hold.** Findings about the papers: {find_total}.", "",
              "## All claims", *details, ""]
    atomic_write_text(dest, "\n".join(lines))
    return dest


ItemKind = Literal["experiment", "theorem", "new evidence"]


@dataclass(frozen=True)
class PaperItem:
    """One row of the front page: an item of a paper and where the book judges it (``verdicts.yaml``)."""

    item: str
    chapter: str
    kind: ItemKind
    findings: tuple[str, ...] = ()       # patterns (fnmatch) over the chapter's finding ids


def paper_items() -> list[PaperItem]:
    """The items of ``verdicts.yaml`` beside this module, in page order."""
    raw = yaml.safe_load(resources.files("companion.book").joinpath("verdicts.yaml").read_text(encoding="utf-8"))
    return [PaperItem(item=r["item"], chapter=r["chapter"], kind=r["kind"], findings=tuple(r.get("findings", ())))
            for r in raw]


def item_verdict(item: PaperItem, claims: list[dict[str, Any]] | None) -> tuple[str, str]:
    """(verdict, one-line reason) of an item from its chapter's claims (None: the chapter has no result).

    Experiments: *reproduced* if every matched finding is, *not reproduced* if any is not, else
    *inconclusive*. Theorems: *reproduced* when every check of the chapter holds. P2's items: *new evidence*
    (P2 has no experiments), with the same counts."""
    if claims is None:
        return "no result", "the chapter has no result in this build"
    checks = [c for c in claims if c.get("kind", "check") == "check"]
    ok = sum(c["holds"] for c in checks)
    found = [c for c in claims if c.get("kind") == "finding"
             and any(fnmatch.fnmatchcase(c["id"], p) for p in item.findings)]
    counts = {o: sum(c["outcome"] == o for c in found) for o in OUTCOMES}
    check_s = f"{ok} of {len(checks)} checks hold"
    if item.kind == "experiment":
        if not found:
            return "no finding", f"no finding recorded; {check_s}"
        verdict = ("not reproduced" if counts["not reproduced"] else
                   "reproduced" if counts["reproduced"] == len(found) else "inconclusive")
        first = next((c for c in found if c["outcome"] == verdict), found[0])
        return verdict, (f"{counts['reproduced']} of {len(found)} findings reproduced; e.g. "
                         f"“{first['description']}”: {first['outcome']}")
    if ok < len(checks):
        return "fails", check_s
    extra = f"; findings: {', '.join(f'{k} {o}' for o, k in counts.items() if k)}" if found else ""
    return ("reproduced" if item.kind == "theorem" else "new evidence"), check_s + extra


def write_verdicts(chapters_dir: Path, dest: Path, items: Sequence[PaperItem] | None = None) -> Path:
    """The front page's table: one row per item of the papers, its verdict in words, a reason and a link."""
    rows = ["| paper item | verdict | why | chapter |", "|---|---|---|---|"]
    for it in items or paper_items():
        path = chapters_dir / f"{it.chapter}.claims.json"
        claims = load_claims(path)["claims"] if path.exists() else None
        verdict, why = item_verdict(it, claims)
        label = verdict_html(verdict) if verdict in (*OUTCOMES, "fails") else f'<span class="verdict">{verdict}</span>'
        rows.append(f"| {it.item} | {label} | {why.replace('|', chr(92) + '|')} | "
                    f"{{doc}}`{it.chapter} <chapters/{it.chapter}>` |")
    atomic_write_text(dest, "\n".join(rows) + "\n")
    return dest


def write_generated_pages(chapters_dir: Path, book_dir: Path, names: Sequence[str], preset: str) -> None:
    """Everything of the book that is generated from the claims files: dashboard and front-page verdicts."""
    write_dashboard(chapters_dir, book_dir / "claims.md", names, preset)
    write_verdicts(chapters_dir, book_dir / "verdicts.md")
