"""Every chapter executed at the `smoke` preset through the runner the CLI uses, then the book built.

The chapters run once per session into a staged copy of the book; each chapter is its own test.
"""

from __future__ import annotations

import json

import pytest

from companion.book.chapters import chapter_names

pytestmark = pytest.mark.slow


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
    assert ["injected-parameters", "remove-cell"] in tags and ["parameters", "remove-cell"] in tags


def test_no_chapter_tried_the_network(smoke_runs, _offline_processes):
    """Every chapter ran at smoke (on the real data or generated stand-ins) with no outside connection tried."""
    assert smoke_runs
    assert _offline_processes.read_text() == "", _offline_processes.read_text()


#: chapters that read MNIST or CIFAR-10
DATA_CHAPTERS = ["real_landscapes", "landscape_verdict", "vgg_branches"]


@pytest.mark.parametrize("name", DATA_CHAPTERS)
def test_data_chapters_run_offline_on_generated_stand_ins(name, tmp_path_factory, _offline_processes):
    """As on a clone without ../shared and with no network: generated files in the real layouts, no download,
    no outside connection, and the page says the data were stand-ins."""
    from companion.book.runner import run_chapter
    from companion.core.data import write_stand_in_data
    from conftest import ROOT, TEST_DEVICE

    data = write_stand_in_data(tmp_path_factory.mktemp("stand_ins"))
    before = _offline_processes.read_text()
    r = run_chapter(name, "smoke", tmp_path_factory.mktemp(name), data_dir=data, device=TEST_DEVICE, root=ROOT)
    assert r.ok, r.summary()
    assert any("STAND-IN" in d for d in r.claims["data"])
    assert _offline_processes.read_text() == before
