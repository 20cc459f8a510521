"""Every chapter executed at the `smoke` preset through the runner the CLI uses, then the book built.

The chapters run once per session into a staged copy of the book; each chapter is its own test.
"""

from __future__ import annotations

import json

import pytest

from companion.book.chapters import chapter_names
from companion.book.dashboard import write_dashboard
from companion.book.runner import RunResult, build_html, run_chapter, stage_book
from conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def book_root(tmp_path_factory):
    return stage_book(tmp_path_factory.mktemp("book"), ROOT)


@pytest.fixture(scope="session")
def smoke_runs(book_root, chapter_data_dir) -> dict[str, RunResult]:
    out = book_root / "book" / "chapters"
    return {n: run_chapter(n, "smoke", out, data_dir=chapter_data_dir, device="cpu", root=ROOT) for n in chapter_names()}


@pytest.mark.parametrize("name", chapter_names())
def test_chapter_runs_at_smoke_with_all_claims_holding(smoke_runs, name):
    r = smoke_runs[name]
    assert r.error is None, r.error
    assert not r.failing_claims, r.failing_claims
    data = json.loads(r.claims_path.read_text())
    assert data["preset"] == "smoke" and data["chapter"] == name and data["claims"]
    assert data["data"], "every chapter says which data it used"
    # the smoke budget (≤ 60 s on 2 idle cores) is measured and reported, not asserted: a loaded machine
    # must not turn a correct chapter into a failing test
    print(f"{name}: {r.wall_time_s:.1f} s at smoke")
    nb = json.loads(r.notebook.read_text())
    tags = [c.get("metadata", {}).get("tags", []) for c in nb["cells"]]
    assert ["injected-parameters"] in tags


def test_stale_claims_file_is_not_trusted(tmp_path):
    """A claims file left by an earlier run is removed before running, never read as this run's."""
    stale = tmp_path / "shapley_folkman.claims.json"
    stale.write_text('{"schema": 1, "claims": [], "run_id": "old"}')
    r = run_chapter("shapley_folkman", "smoke", tmp_path, device="cpu", overrides={"I_max": 0}, root=ROOT)
    assert r.error is not None and "raised ValueError" in r.error
    assert not stale.exists()


def test_book_builds_with_warnings_as_errors(smoke_runs, book_root):
    write_dashboard(book_root / "book" / "chapters", book_root / "book" / "claims.md", chapter_names(), "smoke")
    proc = build_html(book_root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    html = book_root / "_build" / "html"
    dash = (html / "book" / "claims.html").read_text()
    assert "checks hold" in dash and "FAILING" not in dash and "no result" not in dash
    for name in chapter_names():
        page = (html / "book" / "chapters" / f"{name}.html").read_text()
        assert "<img" in page, f"{name} page shows no figure"


def test_no_chapter_tried_the_network(smoke_runs, _offline_processes):
    """Every chapter ran at smoke (on the real data or generated stand-ins) with no outside connection tried."""
    assert smoke_runs
    assert _offline_processes.read_text() == "", _offline_processes.read_text()
