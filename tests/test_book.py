"""The book as a reader meets it: built with warnings as errors, clean pages, verdicts, launch buttons."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from companion.book.chapters import chapter_names
from companion.book.runner import build_html
from conftest import ROOT

pytestmark = pytest.mark.slow

PLACEHOLDER = "https://github.com/example-owner/example-companion"


def text_of(html: str) -> str:
    """The page's text without tags, whitespace collapsed (code spans split words into tags)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def html_pages(book_root: Path) -> list[Path]:
    return sorted((book_root / "_build" / "html" / "book").rglob("*.html"))


def test_book_builds_with_warnings_as_errors(built_book, book_root):
    assert built_book.returncode == 0, built_book.stdout[-3000:] + built_book.stderr[-3000:]
    html = book_root / "_build" / "html"
    dash = (html / "book" / "claims.html").read_text()
    assert "checks hold" in dash and "FAILS" not in dash and "no result" not in dash
    front = (html / "book" / "intro.html").read_text()
    assert "What the book found" in front and 'class="verdict' in front
    for name in chapter_names():
        page = (html / "book" / "chapters" / f"{name}.html").read_text()
        assert "<img" in page, f"{name} page shows no figure"
        assert "How this page was made" in page and f"companion run {name} --preset smoke" in text_of(page)
        assert "run_id =" not in text_of(page) and "# Parameters" not in text_of(page), f"{name} shows its parameter cells"


def test_no_page_carries_a_path_of_the_build_machine(built_book, book_root, chapter_data_dir):
    machine = {str(ROOT), str(book_root), str(chapter_data_dir), str(Path.home()) + "/"}
    for page in html_pages(book_root):
        text = page.read_text(errors="replace")
        leaks = [p for p in machine if p and p in text]
        assert not leaks, f"{page.name} shows {leaks}"


def test_launch_buttons_point_at_each_chapters_notebook_on_the_notebooks_branch(built_book, book_root, tmp_path):
    import shutil

    alt = tmp_path / "book"
    shutil.copytree(book_root, alt, ignore=shutil.ignore_patterns("_build"))
    proc = build_html(alt, repo_url=PLACEHOLDER)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in chapter_names():
        page = (alt / "_build" / "html" / "book" / "chapters" / f"{name}.html").read_text()
        nb = f"book/chapters/{name}.ipynb"
        assert f"https://mybinder.org/v2/gh/example-owner/example-companion/notebooks?urlpath=lab/tree/{nb}" in page
        assert f"https://colab.research.google.com/github/example-owner/example-companion/blob/notebooks/{nb}" in page
        published = alt / "_build" / "notebooks" / nb          # the tree the workflow pushes to the notebooks branch
        first = json.loads(published.read_text())["cells"][0]["source"]
        assert f"companion @ git+{PLACEHOLDER}.git@" in "".join(first), f"{name}: install cell is not pinned"
    # without the URL, no launch button at all (and no broken link)
    page = (book_root / "_build" / "html" / "book" / "chapters" / f"{chapter_names()[0]}.html").read_text()
    assert "mybinder.org" not in page and "colab.research" not in page


def test_formulas_are_typeset_by_a_local_mathjax(built_book, book_root):
    html = book_root / "_build" / "html"
    assert (html / "_static" / "mathjax" / "tex-svg-full.js").stat().st_size > 1_000_000
    page = (html / "book" / "intro.html").read_text()
    assert re.search(r'<script[^>]+src="\.\./_static/mathjax/tex-svg-full\.js', page)
    assert "cdn.jsdelivr" not in page
