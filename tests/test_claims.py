import json
import math

import pytest

from companion.book.claims import Claims, atomic_write_text, claims_markdown_table, gate_from, load_claims, verdict


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


def test_findings_never_fail_the_run_and_show_as_outcomes(tmp_path):
    c = make(tmp_path)
    c.close("chk", "a check", 1.0, 1.0, 0.0)
    c.judge("neg", "the barrier at the widest I", statement="P1.fig1:endpoint", estimate=0.5, low=0.4, high=0.6,
            side="below", gate=gate_from("P1.fig1:endpoint", 0.2), replicates=5, paper=0.0)
    c.judge("pos", "the barrier at the widest I", statement="P1.fig1:endpoint", estimate=0.02, low=0.01, high=0.03,
            side="below", gate=gate_from("P1.fig1:endpoint", 0.2), replicates=5)
    assert c.all_hold and [x.outcome for x in c.findings()] == ["not reproduced", "reproduced"]
    assert [x.id for x in c.checks()] == ["chk"]
    data = load_claims(c.save())
    table = claims_markdown_table(data["claims"])
    checks, findings = table.split("**Findings about the paper**")
    assert ">holds</span>" in checks and "neg" not in checks
    assert ">NOT reproduced</span>" in findings and ">reproduced</span>" in findings and "holds" not in findings
    assert "[0.4, 0.6]" in findings


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


# --- kinds, the registry-judged findings, gates and bands -----------------------------------------------

from companion.book import statements as reg
from companion.book.claims import (ACCEPTED_SCHEMAS, SCHEMA_VERSION, Gate, threshold_outcome,
                                   two_sample_rule)


def test_sanity_checks_fail_the_run_but_are_kept_apart(tmp_path):
    c = make(tmp_path)
    c.close("math", "a closed form", 1.0, 1.0, 1e-9)
    c.close("fast_equals_naive", "code = code", 1.0, 1.2, 1e-9, kind="sanity")
    c.true("by_construction", "true by construction", True, kind="sanity")
    assert [x.id for x in c.checks()] == ["math"] and [x.id for x in c.sanity()] == ["fast_equals_naive", "by_construction"]
    assert not c.all_hold and [x.id for x in c.failing()] == ["fast_equals_naive"]   # a failing sanity check fails
    with pytest.raises(ValueError, match="check or sanity"):
        c.close("x", "x", 1, 1, 0, kind="finding")
    with pytest.raises(ValueError, match="never judges a statement"):
        c.close("y", "y", 1, 1, 0, kind="sanity", part="P1.thm1:bound")
    with pytest.raises(ValueError, match="judged by findings"):
        c.close("z", "z", 1, 1, 0, part="P1.fig1:endpoint")
    c.at_most("gap", "the gap ≤ 2/I", 0.1, 0.2, part="P1.thm1:bound")
    data = load_claims(c.save())
    assert data["schema"] == SCHEMA_VERSION and SCHEMA_VERSION in ACCEPTED_SCHEMAS
    assert data["registry_hash"] == reg.registry_hash()
    assert [x["kind"] for x in data["claims"]] == ["check", "sanity", "sanity", "check"]
    assert data["claims"][-1]["statement"] == "P1.thm1:bound"
    table = claims_markdown_table(data["claims"])
    checks, sanity = table.split("**Sanity checks**")
    assert "fast_equals_naive" not in checks and "fast_equals_naive" in sanity and ">FAILS</span>" in sanity
    assert "Sanity" not in claims_markdown_table(data["claims"], sanity=False)


@pytest.mark.parametrize("low, high, t, side, outcome", [
    (0.02, 0.08, 0.1, "below", "reproduced"), (0.12, 0.3, 0.1, "below", "not reproduced"),
    (0.05, 0.15, 0.1, "below", "inconclusive"), (0.1, 0.2, 0.1, "below", "inconclusive"),
    (0.1, 0.2, 0.1, "above", "reproduced"), (-0.3, -0.1, 0.0, "above", "not reproduced"),
    (-0.3, 0.1, 0.0, "above", "inconclusive"), (math.nan, 0.1, 0.0, "above", "inconclusive"),
])
def test_threshold_outcome(low, high, t, side, outcome):
    assert threshold_outcome(low, high, t, side) == outcome


def test_gate_uses_the_registered_criterion():
    g = gate_from("P1.fig1:endpoint", 0.32)
    assert g.trained and g.criterion == "at_most" and g.value == 0.5 and g.state == "trained"
    assert not gate_from("P1.fig1:endpoint", 0.97).trained
    assert gate_from("P1.fig1:endpoint", 0.5).trained                      # at the value: trained
    assert not gate_from("P1.fig1:endpoint", math.nan).trained             # not measured: not trained
    acc = reg.part("P1.fig5:trend")[1].gate
    assert acc.criterion == "at_least"
    assert gate_from("P1.fig5:trend", acc.value + 0.01).trained and not gate_from("P1.fig5:trend", acc.value - 0.01).trained
    with pytest.raises(ValueError, match="judged by checks"):
        gate_from("P1.thm1:bound", 0.1)


def test_judge_reads_the_threshold_records_the_band_and_gate(tmp_path):
    c = make(tmp_path)
    f = c.judge("fig1_barrier_a", "endpoint, trained", statement="P1.fig1:endpoint", estimate=0.05, low=0.03,
                high=0.07, side="below", gate=gate_from("P1.fig1:endpoint", 0.2), replicates=5, primary=True)
    assert f.outcome == "reproduced" and f.threshold == 0.1 and f.reference == 0.1 and f.gate == "trained"
    assert [b["threshold"] for b in f.threshold_band] == [0.05, 0.075, 0.1, 0.15, 0.2, 0.3]
    assert [b["outcome"] for b in f.threshold_band] == ["inconclusive", "reproduced", "reproduced", "reproduced",
                                                        "reproduced", "reproduced"]
    assert f.fragile and f.flips == [{"between": [0.05, 0.075], "from": "inconclusive", "to": "reproduced"}]
    assert f.gate_detail == {"quantity": reg.part("P1.fig1:endpoint")[1].gate.quantity, "criterion": "at_most",
                             "value": 0.5, "measured": 0.2}
    assert f.provenance == "text" and f.replicates == 5 and f.primary and f.holds
    # far from the threshold: stable over the whole band
    g = c.judge("fig1_barrier_b", "endpoint", statement="P1.fig1:endpoint", estimate=0.6, low=0.5, high=0.7,
                side="below", gate=gate_from("P1.fig1:endpoint", 0.2), replicates=5)
    assert g.outcome == "not reproduced" and not g.fragile and g.flips == []
    # a slope tested against 0: the band is additive, value + (−2 … 2) × margin
    t = c.judge("fig1_trend", "trend", statement="P1.fig1:trend", estimate=-0.3, low=-0.36, high=-0.04,
                side="below", gate=gate_from("P1.fig1:trend", 0.3), replicates=4)
    m = reg.part("P1.fig1:trend")[1].threshold.margin
    assert [b["threshold"] for b in t.threshold_band] == pytest.approx([k * m for k in (-2, -1, -0.5, 0, 0.5, 1, 2)])
    assert t.outcome == "reproduced" and t.fragile              # −0.04 is above −2·margin = −0.1: flips there
    assert t.flips[0]["from"] == "inconclusive" and t.flips[0]["to"] == "reproduced"


def test_untrained_settings_never_vote(tmp_path):
    c = make(tmp_path)
    f = c.judge("u", "untrained", statement="P1.fig1:endpoint", estimate=0.05, low=0.03, high=0.08, side="below",
                gate=gate_from("P1.fig1:endpoint", 0.97), replicates=5)
    assert f.outcome == "inconclusive" and f.outcome_if_trained == "reproduced" and f.gate == "untrained"
    table = claims_markdown_table(load_claims(c.save())["claims"])
    assert "**untrained**" in table and "does not vote" in table and "the numbers say reproduced" in table


def test_judge_refuses_what_it_cannot_judge(tmp_path):
    c = make(tmp_path)
    kw = dict(estimate=0.1, low=0.0, high=0.2, side="below", replicates=3)
    with pytest.raises(ValueError, match="unknown statement"):
        c.judge("a", "x", statement="P1.fig7:trend", gate=gate_from("P1.fig1:trend", 0.1), **kw)
    with pytest.raises(ValueError, match="judged by checks"):
        c.judge("a", "x", statement="P1.thm1:bound", gate=gate_from("P1.fig1:trend", 0.1), **kw)
    with pytest.raises(ValueError, match="registered for P1.fig5:trend"):
        c.judge("a", "x", statement="P1.fig5:trend", gate=gate_from("P1.fig1:trend", 0.1), **kw)
    with pytest.raises(ValueError, match="registered"):
        c.judge("a", "x", statement="P1.fig1:trend", gate=Gate("loss", "at_most", 0.9, 0.1), **kw)
    with pytest.raises(ValueError, match="replicates"):
        c.judge("a", "x", statement="P1.fig1:trend", gate=gate_from("P1.fig1:trend", 0.1),
                **{**kw, "replicates": 0})
    with pytest.raises(ValueError, match="unknown side"):
        c.judge("a", "x", statement="P1.fig1:trend", gate=gate_from("P1.fig1:trend", 0.1), **{**kw, "side": "under"})
    with pytest.raises(ValueError, match="must return one of"):
        c.judge("a", "x", statement="P1.fig1:trend", gate=gate_from("P1.fig1:trend", 0.1),
                **{**kw, "side": lambda t: "yes"})
    assert not c.claims


def test_table1_rule_two_sample_test_and_interval_width(tmp_path):
    alpha = reg.part("P1.table1:rates")[1].alpha.value
    assert two_sample_rule(0.001, 0.0, 0.05, alpha=alpha)(0.3) == "not reproduced"      # significant difference
    assert two_sample_rule(0.8, 0.20, 0.38, alpha=alpha)(0.3) == "reproduced"           # narrow, no difference
    assert two_sample_rule(0.8, 0.00, 0.45, alpha=alpha)(0.3) == "inconclusive"         # too wide to matter
    c = make(tmp_path)
    f = c.judge("rate_I12", "rate at I = 12", statement="P1.table1:rates", estimate=0.3, low=0.22, high=0.46,
                side=two_sample_rule(0.4, 0.22, 0.46, alpha=alpha), gate=gate_from("P1.table1:rates", 0.0),
                replicates=100, paper=0.21)
    assert f.outcome == "reproduced" and f.side == "rule" and f.threshold == 0.3
    # width 0.24: inconclusive below a maximum width of 0.24, reproduced from there on
    assert [b["outcome"] for b in f.threshold_band] == ["inconclusive", "inconclusive", "reproduced", "reproduced",
                                                        "reproduced", "reproduced"]
    assert f.fragile and f.flips[0]["between"] == [0.225, 0.3]


def test_load_claims_accepts_the_previous_schema(tmp_path):
    p = tmp_path / "old.json"
    p.write_text(json.dumps({"schema": 2, "claims": []}))
    assert load_claims(p)["schema"] == 2
