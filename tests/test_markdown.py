"""The chapters' Markdown, read as text: every display formula stands in its own paragraph (MyST's ``$$…$$``
begun mid-paragraph leaves the whole paragraph's TeX raw on the page), and every figure cell's caption has a
name (so it is numbered; a cell that draws one figure per data row, class ``several``, cannot have one) and alt
text. The browser test checks the rendered pages; this finds the cause fast."""

from __future__ import annotations

import json
import re

import pytest

from companion.book.chapters import chapter_names
from conftest import ROOT


def markdown_cells(source: str) -> list[list[str]]:
    """The Markdown cells of a jupytext percent notebook, each as its lines without the leading ``# ``."""
    cells, cur = [], None
    for line in source.splitlines():
        if line.startswith("# %%"):
            cur = [] if "[markdown]" in line else None
            if cur is not None:
                cells.append(cur)
        elif cur is not None:
            cur.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
    return cells


def display_math_mid_paragraph(lines: list[str]) -> list[str]:
    """Lines where a ``$$`` display formula opens or closes inside a paragraph (text on the line before its
    opening or after its closing, or text before the opening ``$$`` on its own line)."""
    bad, inside = [], False
    for i, line in enumerate(lines):
        for _ in range(line.count("$$")):
            if not inside:
                if line.split("$$", 1)[0].strip() or (i > 0 and lines[i - 1].strip()):
                    bad.append(line.strip()[:80])
            else:
                if line.rsplit("$$", 1)[1].strip(" ,.;") or (i + 1 < len(lines) and lines[i + 1].strip()):
                    bad.append(line.strip()[:80])
            inside = not inside
    return bad


def test_the_rule_finds_a_formula_begun_mid_paragraph():
    assert display_math_mid_paragraph(["so", "$$x = 1,$$", "a group lasso"]) == ["$$x = 1,$$", "$$x = 1,$$"]
    assert display_math_mid_paragraph(["so", "", "$$x = 1,$$", "", "a group lasso"]) == []
    assert display_math_mid_paragraph(["", "$$a", "b$$", ""]) == []


@pytest.mark.parametrize("name", chapter_names())
def test_display_formulas_stand_in_their_own_paragraph(name):
    source = (ROOT / "notebooks" / f"{name}.py").read_text(encoding="utf-8")
    bad = [b for cell in markdown_cells(source) for b in display_math_mid_paragraph(cell)]
    assert not bad, f"{name}: display math begun or ended mid-paragraph (add a blank '#' line): {bad}"


@pytest.mark.parametrize("name", chapter_names())
def test_figure_captions_are_named_and_have_alt_text(name):
    source = (ROOT / "notebooks" / f"{name}.py").read_text(encoding="utf-8")
    for m in re.finditer(r"^# %% mystnb=(.*)$", source, flags=re.M):
        meta = json.loads(m.group(1))
        fig, alt = meta.get("figure", {}), meta.get("image", {}).get("alt", "")
        several = "several" in str(fig.get("classes", "")).split()   # one figure per data row: no one name fits
        assert fig.get("caption") and (several or fig.get("name", "").startswith("fig-")), (name, meta)
        assert len(alt.split()) >= 5, f"{name}: {fig.get('name')} needs alt text saying what is drawn"
