"""The generated pages of the book: the claims dashboard, and the page that stands in for a chapter with no result."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from companion.book.claims import OUTCOMES, atomic_write_text, claims_markdown_table, load_claims


def write_failure_page(dest: Path, name: str, preset: str, reason: str) -> Path:
    """A page that stands in for a chapter whose notebook does not exist (a dead kernel, or not run)."""
    text = (f"# {name}\n\n**This chapter has no result at the `{preset}` preset:** {reason}\n\n"
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
        check_s = f"{ok} / {len(checks)}" + ("" if ok == len(checks) else " (**FAILING**)")
        find_s = ", ".join(f"{k} {o}" for o, k in found.items() if k) or "—"
        lines.append(f"| {link} | {data['preset']} | {data['device']} | {data_s} | "
                     f"{data['wall_time_s']:.1f} s | {check_s} | {find_s} |")
        details += ["", f"### {name}", "", claims_markdown_table(cl)]
    find_total = ", ".join(f"{k} {o}" for o, k in outcomes.items()) if any(outcomes.values()) else "none yet"
    lines += ["", f"**{holding} of {total} checks hold.** Findings about the papers: {find_total}.", "",
              "## All claims", *details, ""]
    atomic_write_text(dest, "\n".join(lines))
    return dest
