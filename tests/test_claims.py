import json
import math

import pytest

from companion.claims import Claims, atomic_write_text, claims_markdown_table, load_claims, verdict


def make(tmp_path, **kw):
    return Claims(chapter="demo", preset="smoke", device="cpu", seed=0, path=tmp_path / "demo.claims.json", **kw)


def test_verdicts():
    assert verdict(1.0, 1.05, 0.1, "abs") and not verdict(1.0, 1.2, 0.1, "abs")
    assert verdict(101.0, 100.0, 0.02, "rel") and not verdict(103.0, 100.0, 0.02, "rel")
    assert verdict(0.9, 1.0, 0.0, "at_most") and not verdict(1.1, 1.0, 0.0, "at_most")
    assert verdict(1.1, 1.0, 0.0, "at_least") and not verdict(0.9, 1.0, 0.0, "at_least")
    assert verdict(1.0, None, 0.0, "true") and not verdict(0.0, None, 0.0, "true")
    assert not verdict(math.nan, 1.0, 1e9, "abs")
    assert not verdict(math.inf, 1.0, 1e9, "at_least")
    with pytest.raises(ValueError, match="needs a reference"):
        verdict(1.0, None, 0.1, "abs")


def test_claims_are_decided_from_numbers_and_saved(tmp_path):
    c = make(tmp_path, run_id="abc")
    c.add_data("synthetic")
    c.close("a", "close", 0.3536, 0.35355, 1e-3, paper=0.3536)
    c.at_most("b", "bound", 2.0, 1.0)
    c.true("c", "statement", True)
    assert [x.holds for x in c.claims] == [True, False, True]
    assert not c.all_hold and [x.id for x in c.failing()] == ["b"]
    path = c.save()
    data = load_claims(path)
    assert data["run_id"] == "abc" and data["data"] == ["synthetic"] and data["preset"] == "smoke"
    assert [x["holds"] for x in data["claims"]] == [True, False, True]
    assert data["claims"][0]["paper"] == 0.3536
    table = claims_markdown_table(data["claims"])
    assert "❌ **fails**" in table and table.count("✅ holds") == 2


def test_duplicate_ids_negative_tolerance_and_empty_refused(tmp_path):
    c = make(tmp_path)
    with pytest.raises(ValueError, match="no claims"):
        c.save()
    c.close("a", "x", 1, 1, 0)
    with pytest.raises(ValueError, match="twice"):
        c.close("a", "x", 1, 1, 0)
    with pytest.raises(ValueError, match="≥ 0"):
        c.close("b", "x", 1, 1, -1)


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    atomic_write_text(path, "old")

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_load_claims_refuses_bad_files(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_claims(p)
    p.write_text(json.dumps({"schema": 99}))
    with pytest.raises(ValueError, match="unknown layout"):
        load_claims(p)
