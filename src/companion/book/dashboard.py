"""The generated pages of the book: the claims dashboard, the front page's verdicts by statement, and the page
that stands in for a chapter with no result.

Verdicts (:data:`RULE` is written on the page):

- a **part** of a statement judged by findings: from its *trained* findings only (untrained settings are shown
  in the tables but never vote; sanity checks never count): all reproduced → reproduced; all not reproduced →
  not reproduced; all inconclusive, or no trained finding → inconclusive; otherwise mixed;
- a **part** judged by checks (a theorem): from its checks alone, never sanity checks: all hold → reproduced;
  any fails → not reproduced; none → inconclusive;
- an **item** (a statement): all parts reproduced → reproduced; some parts reproduced or mixed → partly
  reproduced; none → not reproduced; no part decided (all inconclusive) → inconclusive.

Every finding names its statement part (``claims.judge``); a claims file with a finding that names none predates
the registry, and the page refuses it, naming the chapter to rerun.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import yaml

from companion.book import statements as registry
from companion.book.claims import (OUTCOMES, _cell, SANITY_HEADING, atomic_write_text, claims_markdown_table,
                                   load_claims, num_html, verdict_html, _check_rows, _fmt, _interval)

PartWord = Literal["reproduced", "not reproduced", "mixed", "inconclusive", "no result"]
ItemWord = Literal["reproduced", "partly reproduced", "not reproduced", "inconclusive", "no result"]

RULE = ("**How the verdicts are reached.** A part of a statement judged by experiments takes its verdict from its "
        "findings on *trained* networks only (untrained settings are shown in the chapters' tables but never vote, "
        "and sanity checks never count): all reproduced → *reproduced*; all not reproduced → *not reproduced*; all "
        "inconclusive, or no trained finding → *inconclusive*; otherwise *mixed*. A part of a theorem takes its "
        "verdict from its checks alone: all hold → *reproduced*; any fails → *not reproduced*; none → "
        "*inconclusive*. An item: all its parts reproduced → **reproduced**; some parts reproduced or mixed → "
        "**partly reproduced**; none → **not reproduced**; no part decided → **inconclusive**. Thresholds and "
        "training gates are registered before the runs (`statements.yaml`); a finding marked *fragile* changes "
        "its outcome inside the band ½× to 3× its threshold. Findings on *our reading* of a statement of P2 are "
        "labelled *under our definitions*.")

PROVENANCE_WORDS = {"text": "P1's text", "abstract": "P2's abstract", "derived": "derived from the definitions",
                    "our reading": "our reading"}


def write_failure_page(dest: Path, name: str, preset: str, reason: str, title: str | None = None) -> Path:
    """A page that stands in for a chapter whose notebook does not exist (a dead kernel, or not run)."""
    text = (f"# {title or name}\n\n**This chapter has no result at the `{preset}` preset:** {reason}\n\n"
            f"Rerun it with `companion run {name} --preset {preset}`.\n")
    atomic_write_text(dest, text)
    return dest


# --- the rules ----------------------------------------------------------------------------------------------

def part_verdict(findings: Sequence[dict[str, Any]]) -> PartWord:
    """The verdict of a statement part from its findings (claim dicts): only trained ones vote."""
    voters = [c for c in findings if c.get("gate") == "trained" and c.get("votes") is not False]
    seen = {c["outcome"] for c in voters}
    if not seen or seen == {"inconclusive"}:
        return "inconclusive"
    if seen == {"reproduced"}:
        return "reproduced"
    if seen == {"not reproduced"}:
        return "not reproduced"
    return "mixed"


def checks_verdict(checks: Sequence[dict[str, Any]]) -> PartWord:
    """The verdict of a theorem part from its checks (never sanity checks)."""
    if any(c.get("kind", "check") != "check" for c in checks):
        raise ValueError("a theorem's verdict comes from checks alone (a sanity check or finding was passed)")
    if not checks:
        return "inconclusive"
    return "reproduced" if all(c["holds"] for c in checks) else "not reproduced"


def item_verdict(parts: Sequence[str]) -> ItemWord:
    """An item's word from its parts' verdicts (see :data:`RULE`)."""
    if not parts or all(p == "no result" for p in parts):
        return "no result"
    if all(p == "reproduced" for p in parts):
        return "reproduced"
    if any(p in ("reproduced", "mixed") for p in parts):
        return "partly reproduced"
    if any(p == "not reproduced" for p in parts):
        return "not reproduced"
    return "inconclusive"


# --- evidence per part --------------------------------------------------------------------------------------

@dataclass
class PartRow:
    """One row of the front page: a statement part, its verdict and the numbers behind it."""

    statement: registry.Statement
    part: registry.Part
    verdict: PartWord
    why: str
    chapters: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.statement.id}:{self.part.id}"


def _estimate(c: dict[str, Any], chapter: str) -> str:
    return f"`{c['id']}` ({chapter}): {_fmt(c['measured'])} {_interval(c['low'], c['high'])}"


def _counts(found: Sequence[dict[str, Any]]) -> str:
    return ", ".join(f"{k} {o}" for o in OUTCOMES if (k := sum(c["outcome"] == o for c in found)))


def _findings_row(st: registry.Statement, pt: registry.Part,
                  claims: dict[str, list[dict[str, Any]] | None]) -> tuple[PartWord, str]:
    ref = f"{st.id}:{pt.id}"
    tagged = [(ch, c) for ch, cl in claims.items() for c in cl or [] if c.get("statement") == ref]
    views = sum(c.get("votes") is False for _, c in tagged)          # our own views: shown, never voting
    tagged = [(ch, c) for ch, c in tagged if c.get("votes") is not False]
    if tagged:
        found = [c for _, c in tagged]
        verdict = part_verdict(found)
        trained = [(ch, c) for ch, c in tagged if c.get("gate") == "trained"]
        untrained = len(tagged) - len(trained)
        if not trained:
            return verdict, (f"no trained setting: {len(tagged)} finding{'s' * (len(tagged) != 1)}, all on untrained "
                             "networks (shown in the chapters' tables, not counted)")
        ch, primary = next(((ch, c) for ch, c in trained if c.get("primary")), trained[0])
        label = "primary" if primary.get("primary") else "first trained setting"
        agree = sum(c["outcome"] == verdict for _, c in trained)
        parts = [f"{_estimate(primary, ch)} ({label})",
                 (f"{agree} of {len(trained)} trained settings agree" if verdict != "mixed"
                  else f"{len(trained)} trained settings: {_counts([c for _, c in trained])}")]
        if untrained:
            parts.append(f"{untrained} untrained not counted")
        if views:
            parts.append(f"{views} of our own views (e.g. aligned) shown, not counted")
        fragile = sum(bool(c.get("fragile")) for _, c in trained)
        if fragile:
            parts.append(f"{fragile} fragile (the outcome changes inside the threshold band)")
        return verdict, "; ".join(parts)
    return "inconclusive", "no finding bears on this part yet"


def _checks_row(st: registry.Statement, pt: registry.Part,
                claims: dict[str, list[dict[str, Any]] | None]) -> tuple[PartWord, str]:
    ref = f"{st.id}:{pt.id}"
    ours = [c for ch in st.chapters for c in claims.get(ch) or [] if c.get("kind", "check") == "check"]
    tagged = [c for c in ours if c.get("statement") == ref]
    if tagged:
        checks, where = tagged, ""
    else:
        checks = [c for c in ours if not c.get("statement")]
        where = f" (every check of {', '.join(st.chapters)} not yet tied to a part)"
    verdict = checks_verdict(checks)
    if not checks:
        return verdict, "no check bears on this part"
    ok = sum(c["holds"] for c in checks)
    held = "all hold" if ok == len(checks) else f"{len(checks) - ok} fail"
    return verdict, f"{len(checks)} check{'s' * (len(checks) != 1)}{where}: {held}"


def untied_findings(claims: dict[str, list[dict[str, Any]] | None]) -> None:
    """Refuse findings that name no statement part (a claims file older than the registry), naming the fix."""
    old = sorted({ch for ch, cl in claims.items() for c in cl or [] if c.get("kind") == "finding"
                  and not c.get("statement")})
    if old:
        raise ValueError(f"the claims of {', '.join(old)} have findings that name no statement part (made before "
                         f"statements.yaml): rerun them (`companion run NAME`) before building the front page")


def statement_rows(claims: dict[str, list[dict[str, Any]] | None],
                   reg: dict[str, registry.Statement] | None = None) -> list[PartRow]:
    """One row per registered statement part, in registry order, from the chapters' claims (a chapter
    name → its claims, or None when the chapter has no result)."""
    untied_findings(claims)
    rows = []
    for st in (reg or registry.statements()).values():
        have = [ch for ch in st.chapters if claims.get(ch) is not None]
        for pt in st.parts:
            if not have:
                rows.append(PartRow(st, pt, "no result", "no chapter of this statement has a result in this build"))
                continue
            verdict, why = (_findings_row(st, pt, claims) if pt.judged_by == "findings"
                            else _checks_row(st, pt, claims))
            rows.append(PartRow(st, pt, verdict, why, have))
    return rows


def _label(word: str) -> str:
    return verdict_html(word)


def verdicts_markdown(rows: Sequence[PartRow]) -> str:
    """The front page's table (one row per statement part, the item's word on its first row) and the rule."""
    out = ["| verdict | paper item | part | the numbers behind it | source | chapter |", "|---|---|---|---|---|---|"]
    by_item: dict[str, list[PartRow]] = {}
    for r in rows:
        by_item.setdefault(r.statement.id, []).append(r)
    for sid, rs in by_item.items():
        st = rs[0].statement
        word = item_verdict([r.verdict for r in rs])
        for i, r in enumerate(rs):
            item = (f"**{sid}**, {st.where}: {_label(word)}<br>{st.says}" if i == 0 else "″")
            verdict = _label(r.verdict) + (" under our definitions" if r.part.provenance == "our reading" else "")
            links = ", ".join(f"{{doc}}`{ch} <chapters/{ch}>`" for ch in r.chapters) or "—"
            out.append(f"| {verdict} | {item.replace('|', chr(92) + '|')} | `{r.part.id}`: "
                       f"{r.part.says.replace('|', chr(92) + '|')} | {r.why.replace('|', chr(92) + '|')} | "
                       f"{PROVENANCE_WORDS[r.part.provenance]} | {links} |")
    # in a container so that companion.css can stack its rows into labelled cards at phone width
    return "```{container} verdicts-table\n" + "\n".join(out) + "\n```\n\n" + RULE + "\n"


def _load(chapters_dir: Path, names: Sequence[str]) -> dict[str, dict[str, Any] | None]:
    out: dict[str, dict[str, Any] | None] = {}
    for n in names:
        path = chapters_dir / f"{n}.claims.json"
        out[n] = load_claims(path) if path.exists() else None
    return out


def _registry_names() -> list[str]:
    names = [ch for st in registry.statements().values() for ch in st.chapters]
    return list(dict.fromkeys(names))


def write_verdicts(chapters_dir: Path, dest: Path, names: Sequence[str] | None = None) -> Path:
    """The front page's verdicts by statement (``verdicts.md``), from the claims files in ``chapters_dir``."""
    files = _load(chapters_dir, list(dict.fromkeys([*(names or []), *_registry_names()])))
    rows = statement_rows({n: (d["claims"] if d else None) for n, d in files.items()})
    atomic_write_text(dest, verdicts_markdown(rows))
    return dest


# --- the dashboard ------------------------------------------------------------------------------------------

def data_html(data: Sequence[str]) -> str:
    """A chapter's data descriptions folded: a one-line summary (each description's name, the text before its
    first colon) that opens onto the full descriptions; "—" when there are none."""
    if not data:
        return "—"
    short = ", ".join(dict.fromkeys(d.split(":", 1)[0].strip() for d in data))
    return f"<details><summary>{_cell(short)}</summary>{_cell('; '.join(data))}</details>"


def write_dashboard(chapters_dir: Path, dest: Path, names: Sequence[str], preset: str) -> Path:
    """Generate the claims dashboard page from every ``NAME.claims.json`` in ``chapters_dir``.

    Checks (hold / fail), sanity checks (apart: they never count toward a verdict) and findings about the
    papers (reproduced / not reproduced / inconclusive) are counted apart, in words: a negative finding is
    never drawn as a pass."""
    current = registry.registry_hash()
    lines = [
        "# Claims dashboard",
        "",
        "Every number the book claims, gathered from the chapters' claims files (`NAME.claims.json`) "
        f"by `companion book`. This build ran the **{preset}** preset. Three kinds of claim: a **check** compares "
        "a measured number with the paper's mathematics (a closed form or a bound) at a stated tolerance and "
        "*holds* or *fails*; a **sanity** check is true by construction or tests code against code (it fails the "
        "run when it fails, and never counts toward a paper's verdict); a **finding** judges a part of a paper's "
        "statement from an interval over independent replicates, against a threshold registered before the run "
        f"(`statements.yaml`, hash `{current}`), and is *reproduced*, *not reproduced* or *inconclusive*; "
        "findings on untrained networks are shown but never vote.",
        "",
        "## Chapters",
        "",
        "| chapter | checks holding | sanity holding | findings | preset | device | wall time | registry | data |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    details: list[str] = []
    sanity_rows: list[str] = []
    total = holding = s_total = s_holding = 0
    outcomes = {o: 0 for o in OUTCOMES}
    untrained = old_style = 0
    files = _load(chapters_dir, names)
    for name in names:
        link = f"{{doc}}`{name} <chapters/{name}>`"
        data = files[name]
        if data is None:
            lines.append(f"| {link} | **no result** (its page says why) | — | — | — | — | — | — | — |")
            continue
        cl = data["claims"]
        checks = [c for c in cl if c.get("kind", "check") == "check"]
        sane = [c for c in cl if c.get("kind") == "sanity"]
        ok, s_ok = sum(c["holds"] for c in checks), sum(c["holds"] for c in sane)
        total, holding, s_total, s_holding = total + len(checks), holding + ok, s_total + len(sane), s_holding + s_ok
        found = [c for c in cl if c.get("kind") == "finding"]
        for o in OUTCOMES:
            outcomes[o] += sum(c["outcome"] == o for c in found)
        untrained += sum(c.get("gate") == "untrained" for c in found)
        old_style += sum(not c.get("statement") for c in found)
        data_s, wall = data_html(data["data"]), f"{data['wall_time_s']:.1f} s"
        check_s = f"{ok} / {len(checks)}" + ("" if ok == len(checks) else " " + verdict_html("fails"))
        sane_s = (f"{s_ok} / {len(sane)}" + ("" if s_ok == len(sane) else " " + verdict_html("fails"))) if sane else "—"
        find_s = _counts(found) or "—"
        h = data.get("registry_hash")
        reg_s = "—" if h is None else ("this one" if h == current else f"older (`{h}`)")
        lines.append(f"| {link} | {check_s} | {sane_s} | {find_s} | {data['preset']} | {data['device']} | "
                     f"{num_html(wall)} | {reg_s} | {data_s} |")
        if sane:
            sanity_rows += _check_rows(sane, name)[(2 if sanity_rows else 0):]
        details += ["", f"### {name}", "", claims_markdown_table(cl, sanity=False) or "(only sanity checks)"]
    find_total = ", ".join(f"{k} {o}" for o, k in outcomes.items()) if any(outcomes.values()) else "none yet"
    notes = []
    if untrained:
        notes.append(f"{untrained} on untrained networks (they do not vote)")
    if old_style:
        notes.append(f"{old_style} not yet tied to a statement")
    lines += ["", f"**{holding} of {total} checks hold.** {s_holding} of {s_total} sanity checks hold. "
              f"Findings about the papers: {find_total}" + (f" ({'; '.join(notes)})" if notes else "") + ".", "",
              "The verdicts by statement part, and the rule that reaches them, are on the {doc}`front page <intro>`.",
              "",
              "## Sanity checks", "", SANITY_HEADING + ".", "",
              "\n".join(sanity_rows) if sanity_rows else "No chapter records a sanity check yet.", "",
              "## All claims", *details, ""]
    atomic_write_text(dest, "\n".join(lines))
    return dest


# --- the front page's colophon: this build, and how to cite it ---------------------------------------------

def _bib_authors(people: Sequence[dict[str, Any]]) -> str:
    return " and ".join(f"{{{p['name']}}}" if "name" in p else f"{p['family-names']}, {p.get('given-names', '')}".strip(", ")
                        for p in people)


def bibtex_entries(cff: dict[str, Any], *, year: int, commit: str) -> str:
    """BibTeX for a ``CITATION.cff`` mapping: the work itself (``@software``, this build's year and commit) and each
    of its ``references`` (``@inproceedings`` for a conference paper, else ``@misc``)."""
    def entry(kind: str, key: str, fields: dict[str, Any]) -> str:
        body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields.items() if v not in (None, ""))
        return f"@{kind}{{{key},\n{body}\n}}"

    own = {"title": "{" + cff["title"] + "}", "author": _bib_authors(cff["authors"]), "year": year,
           "version": cff.get("version"), "url": cff.get("repository-code") or cff.get("url"),
           "note": f"commit {commit}" if commit else None}
    out = [entry("software", "companion", own)]
    for ref in cff.get("references", []):
        first = ref["authors"][0].get("family-names", ref["authors"][0].get("name", "anon"))
        word = next((w for w in ref["title"].split() if len(w) > 3), "work").lower().strip(",.:")
        ids = "; ".join(i["value"] for i in ref.get("identifiers", []))
        out.append(entry("inproceedings" if ref.get("type") == "conference-paper" else "misc",
                         f"{first.lower()}{ref.get('year', '')}{word}",
                         {"title": "{" + ref["title"] + "}", "author": _bib_authors(ref["authors"]),
                          "booktitle": ref.get("collection-title"), "year": ref.get("year"), "url": ref.get("url"),
                          "note": ids or None}))
    return "\n\n".join(out)


def colophon_markdown(version: str, built_utc: str, cff: dict[str, Any] | None, *, year: int, commit: str) -> str:
    """The front page's last section: when and from which commit this build was made, and how to cite it."""
    lines = ["## This build, and how to cite it", "",
             f"Built {built_utc} from {version}. Each chapter's page says how it was made.", ""]
    if cff is None:
        return "\n".join(lines + ["(No `CITATION.cff` was found beside the book: no citation to show.)", ""])
    lines += ["To cite this companion (from `CITATION.cff` in the repository; cite the two papers as well):", "",
              "```bibtex", bibtex_entries(cff, year=year, commit=commit), "```", ""]
    return "\n".join(lines)


def write_colophon(dest: Path, root: Path | None) -> Path:
    """``colophon.md`` (included by the front page) for a build now, from the checkout at ``root``."""
    from datetime import datetime, timezone

    from companion.book.pages import source_version
    from companion.book.publish import commit_sha

    now = datetime.now(timezone.utc)
    path = root / "CITATION.cff" if root is not None else None
    cff = yaml.safe_load(path.read_text(encoding="utf-8")) if path is not None and path.is_file() else None
    sha = commit_sha(root) if root is not None else ""
    atomic_write_text(dest, colophon_markdown(source_version(root), now.strftime("%Y-%m-%d %H:%M UTC"), cff,
                                              year=now.year, commit=sha[:12]))
    return dest


def write_generated_pages(chapters_dir: Path, book_dir: Path, names: Sequence[str], preset: str) -> None:
    """Everything of the book that is generated from the claims files: dashboard, front-page verdicts, the
    front page's colophon (build date, commit, citation) and the times (the rerun page's ``times.md`` and the
    README's times block, :func:`companion.book.times.write_times`)."""
    from companion.book.chapters import ChapterError, project_root
    from companion.book.times import write_times

    write_dashboard(chapters_dir, book_dir / "claims.md", names, preset)
    write_verdicts(chapters_dir, book_dir / "verdicts.md", names)
    try:
        root: Path | None = project_root()
    except ChapterError:
        root = None
    write_colophon(book_dir / "colophon.md", root)
    # the README states the default book's times: only a `cpu` build rewrites its block
    write_times(chapters_dir, book_dir, names, readme=book_dir.parent / "README.md" if preset == "cpu" else None)
