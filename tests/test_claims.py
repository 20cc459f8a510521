import json
import math

import pytest

from companion.book.claims import Claims, atomic_write_text, claims_markdown_table, finding_outcome, load_claims, verdict


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
    assert table.count(">FAILS</span>") == 1 and table.count(">holds</span>") == 2
    assert "Findings" not in table


@pytest.mark.parametrize("low, high, region, outcome", [
    (0.2, 0.4, (0.1, 0.5), "reproduced"),
    (0.2, 0.4, (0.5, None), "not reproduced"),          # wholly below the predicted region
    (0.6, 0.9, (None, 0.5), "not reproduced"),          # wholly above
    (0.4, 0.6, (0.5, None), "inconclusive"),            # straddles the threshold
    (-1.0, 2.0, (None, None), "reproduced"),            # an unbounded region contains everything
    (math.nan, 0.3, (0.0, 1.0), "inconclusive"),
])
def test_finding_outcome_region(low, high, region, outcome):
    assert finding_outcome(low, high, region=region) == outcome


def test_finding_outcome_contains_and_bad_calls():
    assert finding_outcome(0.1, 0.3, contains=0.3) == "reproduced"
    assert finding_outcome(0.1, 0.3, contains=0.31) == "not reproduced"
    with pytest.raises(ValueError, match="exactly one"):
        finding_outcome(0.1, 0.3)
    with pytest.raises(ValueError, match="empty region"):
        finding_outcome(0.1, 0.3, region=(1.0, 0.0))


def test_findings_never_fail_the_run_and_show_as_outcomes(tmp_path):
    c = make(tmp_path)
    c.close("chk", "a check", 1.0, 1.0, 0.0)
    c.finding("neg", "the rate rises", estimate=-0.2, low=-0.4, high=-0.1, region=(0.0, None), paper=0.5)
    c.finding("pos", "matches the paper", estimate=0.3, low=0.2, high=0.4, contains=0.35)
    assert c.all_hold and [x.outcome for x in c.findings()] == ["not reproduced", "reproduced"]
    assert [x.id for x in c.checks()] == ["chk"]
    data = load_claims(c.save())
    table = claims_markdown_table(data["claims"])
    checks, findings = table.split("**Findings about the paper**")
    assert ">holds</span>" in checks and "neg" not in checks
    assert ">NOT reproduced</span>" in findings and ">reproduced</span>" in findings and "holds" not in findings
    assert "[-0.4, -0.1]" in findings or "[−0.4, −0.1]" in findings


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
