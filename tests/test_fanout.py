"""companion.core.fanout: the same results locally and on a two-worker Dask LocalCluster; resuming from the store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from companion.core import fanout


def square_and_log(config: dict) -> dict:
    """A deterministic task that also records that it ran (to see what a rerun recomputes)."""
    with open(config["log"], "a") as fh:
        fh.write(f"{config['x']}\n")
    return {"x": config["x"], "y": config["x"] ** 2, "pid": os.getpid()}


def configs(tmp_path: Path, n: int = 6) -> list[dict]:
    return [{"x": x, "log": str(tmp_path / "ran.txt")} for x in range(n)]


def test_local_map_keeps_order_and_resumes_from_the_store(tmp_path):
    store = tmp_path / "store"
    first = fanout.map(square_and_log, configs(tmp_path), store=store)
    assert [r["y"] for r in first] == [0, 1, 4, 9, 16, 25]
    (store / f"{fanout.config_key(configs(tmp_path)[2])}.pkl").unlink()      # as if that task's worker died
    again = fanout.map(square_and_log, configs(tmp_path), store=store)
    assert [r["y"] for r in again] == [r["y"] for r in first]
    ran = (tmp_path / "ran.txt").read_text().split()
    assert ran == ["0", "1", "2", "3", "4", "5", "2"]                          # only the lost one recomputed


def test_bad_scheduler_is_refused_naming_the_forms():
    with pytest.raises(ValueError, match="local:N"):
        fanout.resolve_scheduler("cluster-please")
    with pytest.raises(ValueError, match="N ≥ 1"):
        fanout.resolve_scheduler("local:0")
    assert fanout.resolve_scheduler(None) is None or os.environ.get("COMPANION_SCHEDULER")


@pytest.mark.slow
def test_two_worker_local_cluster_gives_identical_results(tmp_path):
    pytest.importorskip("distributed")
    local = fanout.map(square_and_log, configs(tmp_path))
    dask = fanout.map(square_and_log, configs(tmp_path), scheduler="local:2")
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


@pytest.fixture(scope="module")
def two_workers():
    """A two-worker Dask LocalCluster for this module's fan-out tests (its address is a ``scheduler``)."""
    pytest.importorskip("distributed")
    with fanout.dask_client("local:2") as client:
        yield client.scheduler.address


def test_data_and_source_keys_name_what_they_hash(tmp_path):
    import numpy as np
    import torch

    x = torch.arange(6.0).reshape(2, 3)
    assert fanout.data_key(x) == fanout.data_key(x.numpy()) == fanout.data_key(x.clone())
    assert fanout.data_key(x) != fanout.data_key(x.double()) != fanout.data_key(x.reshape(3, 2))
    assert fanout.data_key(x, np.ones(2)) != fanout.data_key(np.ones(2), x)
    assert len(fanout.source_key()) == 20 and fanout.source_key() == fanout.source_key()


@pytest.mark.slow
def test_landscape_sweep_fans_out_identically_and_resumes_from_the_store(tmp_path, two_workers, monkeypatch):
    """With one torch thread (with more, the plane evaluator is not bit-reproducible even call to call: see
    landscape_sweep.sweep_configs), the fan-out and the store change nothing."""
    import pandas as pd
    import torch

    from companion.landscapes import verdict as sw
    from companion.core.data import synthetic_teacher
    from companion.training.losses import tau_hinge
    from companion.training.onehidden import intra_op_threads

    ds = synthetic_teacher(n=120, d=10, hidden=11, seed=0)
    kw = dict(Is=[1, 4], widths=(10, 1, 1), settings=sw.settings_grid([0.0, 0.001], ["fixed"]), T=2, seed=0,
              training=sw.Training(lr=0.1, batch_size=40, steps=40, lr_ours=0.5, steps_ours=40, check_every=20),
              views=("none", "aligned"), radii=[0.5, 2.0], G=4, K=4, n_probe=60, n_window=60,
              device=torch.device("cpu"))
    with intra_op_threads(1):
        local, t_local, runs_local = sw.sweep(ds.x, ds.y, tau_hinge, store=tmp_path / "store", **kw)
        dask, _, runs_dask = sw.sweep(ds.x, ds.y, tau_hinge, scheduler=two_workers, **kw)
        pd.testing.assert_frame_equal(local, dask, check_exact=True)
        pd.testing.assert_frame_equal(runs_local, runs_dask, check_exact=True)
        assert len(list((tmp_path / "store").glob("*.pkl"))) == 4              # (I, protocol) configurations

        def refuse(*args, **kwargs):
            raise AssertionError("a configuration in the store was computed again")

        monkeypatch.setattr(sw, "train_triples", refuse)
        again, t_again, runs_again = sw.sweep(ds.x, ds.y, tau_hinge, store=tmp_path / "store", **kw)
        pd.testing.assert_frame_equal(local, again, check_exact=True)
        pd.testing.assert_frame_equal(runs_local, runs_again, check_exact=True)
        assert t_again == t_local
        with pytest.raises(AssertionError, match="computed again"):          # other data: other keys
            sw.sweep(ds.x[:100], ds.y[:100], tau_hinge, store=tmp_path / "store", **kw)
