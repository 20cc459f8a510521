"""companion.sweep: the same results locally and on a two-worker Dask LocalCluster; resuming from the store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from companion import sweep


def square_and_log(config: dict) -> dict:
    """A deterministic task that also records that it ran (to see what a rerun recomputes)."""
    with open(config["log"], "a") as fh:
        fh.write(f"{config['x']}\n")
    return {"x": config["x"], "y": config["x"] ** 2, "pid": os.getpid()}


def configs(tmp_path: Path, n: int = 6) -> list[dict]:
    return [{"x": x, "log": str(tmp_path / "ran.txt")} for x in range(n)]


def test_local_map_keeps_order_and_resumes_from_the_store(tmp_path):
    store = tmp_path / "store"
    first = sweep.map(square_and_log, configs(tmp_path), store=store)
    assert [r["y"] for r in first] == [0, 1, 4, 9, 16, 25]
    (store / f"{sweep.config_key(configs(tmp_path)[2])}.pkl").unlink()      # as if that task's worker died
    again = sweep.map(square_and_log, configs(tmp_path), store=store)
    assert [r["y"] for r in again] == [r["y"] for r in first]
    ran = (tmp_path / "ran.txt").read_text().split()
    assert ran == ["0", "1", "2", "3", "4", "5", "2"]                          # only the lost one recomputed


def test_bad_scheduler_is_refused_naming_the_forms():
    with pytest.raises(ValueError, match="local:N"):
        sweep.resolve_scheduler("cluster-please")
    with pytest.raises(ValueError, match="N ≥ 1"):
        sweep.resolve_scheduler("local:0")
    assert sweep.resolve_scheduler(None) is None or os.environ.get("COMPANION_SCHEDULER")


@pytest.mark.slow
def test_two_worker_local_cluster_gives_identical_results(tmp_path):
    pytest.importorskip("distributed")
    local = sweep.map(square_and_log, configs(tmp_path))
    dask = sweep.map(square_and_log, configs(tmp_path), scheduler="local:2")
    assert [(r["x"], r["y"]) for r in dask] == [(r["x"], r["y"]) for r in local]
    assert len({r["pid"] for r in dask}) == 2 and os.getpid() not in {r["pid"] for r in dask}


@pytest.mark.slow
def test_book_on_a_two_worker_cluster_has_the_same_claims(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    from companion.book import runner
    from conftest import ROOT

    monkeypatch.setattr(runner, "build_html", lambda book_root, log=None: None)
    chapters = ["shapley_folkman", "theorem1"]
    claims = {}
    for how in (None, "local:2"):
        root = runner.stage_book(tmp_path / str(how).replace(":", "_"), ROOT)
        runner.build_book(root, "smoke", device="cpu", chapters=chapters, scheduler=how)
        claims[how] = {n: [(c["id"], c["measured"], c["holds"]) for c in
                           json.loads((root / "book" / "chapters" / f"{n}.claims.json").read_text())["claims"]]
                       for n in chapters}
    assert claims[None] == claims["local:2"]
