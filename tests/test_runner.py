"""The runner survives what a chapter can do to it: a dead kernel, a failing cell, a chapter not run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from companion.book import chapters, runner
from companion.book.chapters import ChapterError

pytestmark = pytest.mark.slow

HEADER = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
preset = "smoke"
device = "auto"
data_dir = ""
claims_path = "x.claims.json"
run_id = ""
interactive = True
seed = 0
'''
SAVE = '''
# %%
from companion.book.claims import Claims
c = Claims(chapter=NAME, preset=preset, device="cpu", seed=seed, path=claims_path, run_id=run_id)
c.add_data("none")
c.true("ok", "a statement", True)
c.save()
'''
BODIES = {
    "good": SAVE.replace("NAME", '"good"'),
    "dies": "\n# %%\nimport os\nos._exit(1)\n",
    "raises": "\n# %%\nraise RuntimeError('boom')\n",
}


@pytest.fixture
def fake_project(tmp_path, monkeypatch) -> Path:
    """A project root with three tiny chapters: one that works, one whose kernel dies, one that raises."""
    root = tmp_path / "proj"
    (root / "notebooks").mkdir(parents=True)
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    for name, body in BODIES.items():
        (root / "notebooks" / f"{name}.py").write_text(HEADER + body)
    table = {n: {"title": n, "presets": {p: {"seed": 0} for p in chapters.PRESETS}} for n in BODIES}
    monkeypatch.setattr(chapters, "_preset_table", lambda: table)
    monkeypatch.setenv("COMPANION_ROOT", str(root))
    monkeypatch.setattr(runner, "build_html", lambda book_root, log=None: subprocess.CompletedProcess([], 0, "", ""))
    return root


def test_dead_kernel_is_named_and_leaves_no_partial_or_stale_notebook(fake_project, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "dies.ipynb").write_text("{}")               # an earlier run's notebook
    r = runner.run_chapter("dies", "smoke", out, device="cpu", root=fake_project)
    assert r.error is not None and "kernel did not finish" in r.error and "DeadKernelError" in r.error
    assert sorted(p.name for p in out.iterdir()) == ["dies.md"]
    assert "no result" in (out / "dies.md").read_text()


def test_failing_cell_keeps_this_runs_notebook_with_the_traceback(fake_project, tmp_path):
    r = runner.run_chapter("raises", "smoke", tmp_path, device="cpu", root=fake_project)
    assert r.error is not None and "RuntimeError: boom" in r.error
    assert r.notebook.exists() and not (tmp_path / "raises.md").exists()
    assert not list(tmp_path.glob(".*partial*"))


def test_book_survives_a_dead_kernel_and_still_writes_the_dashboard(fake_project):
    res = runner.build_book(fake_project, "smoke", device="cpu")
    out = fake_project / "book" / "chapters"
    assert [r.ok for r in res.runs] == [True, False, False] and not res.ok
    dash = (fake_project / "book" / "claims.md").read_text()
    assert "1 of 1 checks hold" in dash and dash.count("no result") == 2   # dies and raises saved no claims
    assert (out / "good.claims.json").exists() and (out / "dies.md").exists()


def test_book_with_some_chapters_marks_others_not_built_at_this_preset(fake_project):
    runner.build_book(fake_project, "smoke", device="cpu", chapters=["good"])
    runner.build_book(fake_project, "cpu", device="cpu", chapters=["raises"])
    out = fake_project / "book" / "chapters"
    page = (out / "good.md").read_text()
    assert "'smoke' preset" in page and not (out / "good.ipynb").exists()
    runner.build_book(fake_project, "cpu", device="cpu", chapters=["good"])
    assert (out / "good.ipynb").exists() and not (out / "good.md").exists()


def test_cuda_without_a_gpu_is_refused_before_anything_runs(fake_project, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = tmp_path / "out"
    with pytest.raises(ChapterError, match="no CUDA GPU"):
        runner.run_chapter("good", "smoke", out, device="cuda", root=fake_project)
    with pytest.raises(ChapterError, match="no CUDA GPU"):
        runner.build_book(fake_project, "smoke", device="cuda")
    assert not out.exists() and not (fake_project / "book").exists()


def test_stale_claims_file_is_not_trusted(fake_project, tmp_path):
    """A claims file left by an earlier run is removed before running, never read as this run's."""
    stale = tmp_path / "raises.claims.json"
    stale.write_text('{"schema": 2, "claims": [], "run_id": "old"}')
    r = runner.run_chapter("raises", "smoke", tmp_path, device="cpu", root=fake_project)
    assert r.error is not None and "RuntimeError" in r.error
    assert not stale.exists()
