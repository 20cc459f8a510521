"""The front page by statement and the dashboard, from hand-made claims files: the aggregation rule (all
reproduced, mixed, only untrained, fragile), theorems from checks alone, findings that name no part refused, sanity apart."""

from __future__ import annotations

import json

import pytest

from companion.book import dashboard as db
from companion.book.claims import Claims, gate_from


def chapter(tmp_path, name):
    return Claims(chapter=name, preset="smoke", device="cpu", seed=0, path=tmp_path / f"{name}.claims.json")


def endpoint(c, id, low, high, loss=0.2, **kw):
    return c.judge(id, f"endpoint {id}", statement="P1.fig1:endpoint", estimate=(low + high) / 2, low=low, high=high,
                   side="below", gate=gate_from("P1.fig1:endpoint", loss), replicates=5, **kw)


def rows_by_ref(tmp_path, names):
    claims = {}
    for n in names:
        p = tmp_path / f"{n}.claims.json"
        claims[n] = json.loads(p.read_text())["claims"] if p.exists() else None
    return {r.ref: r for r in db.statement_rows(claims)}


def test_part_rule_on_claim_dicts():
    R = {"outcome": "reproduced", "gate": "trained"}
    N = {"outcome": "not reproduced", "gate": "trained"}
    I = {"outcome": "inconclusive", "gate": "trained"}
    U = {"outcome": "inconclusive", "gate": "untrained", "outcome_if_trained": "not reproduced"}
    assert db.part_verdict([R, R, U]) == "reproduced"
    assert db.part_verdict([N, U]) == "not reproduced"
    assert db.part_verdict([R, N]) == db.part_verdict([R, I]) == "mixed"
    assert db.part_verdict([I, U]) == db.part_verdict([U, U]) == db.part_verdict([]) == "inconclusive"
    nogate = {"outcome": "reproduced"}                               # no gate recorded: does not vote
    assert db.part_verdict([nogate]) == "inconclusive"


def test_item_rule():
    assert db.item_verdict(["reproduced", "reproduced"]) == "reproduced"
    assert db.item_verdict(["reproduced", "not reproduced"]) == "partly reproduced"
    assert db.item_verdict(["mixed", "inconclusive"]) == "partly reproduced"
    assert db.item_verdict(["not reproduced", "inconclusive"]) == "not reproduced"
    assert db.item_verdict(["inconclusive", "inconclusive"]) == "inconclusive"
    assert db.item_verdict(["no result", "no result"]) == "no result"


def test_all_reproduced_counts_trained_settings_and_quotes_the_primary(tmp_path):
    c = chapter(tmp_path, "landscape_verdict")
    endpoint(c, "a", 0.01, 0.03)
    endpoint(c, "b", 0.02, 0.05, primary=True)
    endpoint(c, "c", 0.5, 0.7, loss=0.98)                           # untrained, would be not reproduced
    c.judge("t", "trend", statement="P1.fig1:trend", estimate=-0.3, low=-0.4, high=-0.2, side="below",
            gate=gate_from("P1.fig1:trend", 0.2), replicates=5)
    c.save()
    rows = rows_by_ref(tmp_path, ["landscape_verdict"])
    end = rows["P1.fig1:endpoint"]
    assert end.verdict == "reproduced"
    assert "`b` (landscape_verdict)" in end.why and "(primary)" in end.why
    assert "2 of 2 trained settings agree" in end.why and "1 untrained not counted" in end.why
    assert rows["P1.fig1:trend"].verdict == "reproduced"
    page = db.verdicts_markdown([rows["P1.fig1:trend"], end])
    assert page.count('verdict-reproduced">reproduced') == 3              # the item's word and both parts
    assert "How the verdicts are reached" in page and "partly reproduced" in page   # the rule is on the page


def test_mixed_part_makes_the_item_partly_reproduced(tmp_path):
    c = chapter(tmp_path, "landscape_verdict")
    endpoint(c, "a", 0.01, 0.03)
    endpoint(c, "b", 0.3, 0.5)
    c.save()
    rows = rows_by_ref(tmp_path, ["landscape_verdict"])
    end = rows["P1.fig1:endpoint"]
    assert end.verdict == "mixed" and "2 trained settings: 1 reproduced, 1 not reproduced" in end.why
    assert rows["P1.fig1:trend"].verdict == "inconclusive"             # no finding names the trend
    assert db.item_verdict([end.verdict, rows["P1.fig1:trend"].verdict]) == "partly reproduced"


def test_only_untrained_settings_give_inconclusive(tmp_path):
    c = chapter(tmp_path, "landscape_verdict")
    endpoint(c, "a", 0.01, 0.03, loss=0.96)
    endpoint(c, "b", 0.01, 0.02, loss=0.99)
    c.save()
    end = rows_by_ref(tmp_path, ["landscape_verdict"])["P1.fig1:endpoint"]
    assert end.verdict == "inconclusive" and "no trained setting" in end.why and "all on untrained" in end.why


def test_fragile_findings_are_counted_and_shown(tmp_path):
    c = chapter(tmp_path, "landscape_verdict")
    endpoint(c, "a", 0.06, 0.09)                                      # inconclusive at 0.075: fragile
    c.save()
    end = rows_by_ref(tmp_path, ["landscape_verdict"])["P1.fig1:endpoint"]
    assert end.verdict == "reproduced" and "1 fragile" in end.why
    db.write_dashboard(tmp_path, tmp_path / "claims.md", ["landscape_verdict"], "smoke")
    dash = (tmp_path / "claims.md").read_text()
    assert ("**fragile**: not reproduced → inconclusive between 0.05 and 0.075; inconclusive → reproduced between "
            "0.075 and 0.1") in dash


def test_theorems_from_checks_alone_and_sanity_apart(tmp_path):
    c = chapter(tmp_path, "theorem1")
    c.at_most("gap", "the gap ≤ 2/I", 0.1, 0.2)
    c.close("fast_equals_naive", "code = code", 1.0, 1.5, 1e-9, kind="sanity")   # fails, but is sanity
    c.save()
    rows = rows_by_ref(tmp_path, ["theorem1"])
    thm = rows["P1.thm1:bound"]
    assert thm.verdict == "reproduced" and "1 check" in thm.why and "all hold" in thm.why
    c2 = chapter(tmp_path, "theorem1")
    c2.at_most("gap", "the gap ≤ 2/I", 0.3, 0.2, part="P1.thm1:bound")
    c2.at_most("other", "an untagged check", 0.1, 0.2)
    c2.save()
    thm = rows_by_ref(tmp_path, ["theorem1"])["P1.thm1:bound"]
    assert thm.verdict == "not reproduced" and thm.why.startswith("1 check: 1 fail")   # the tagged check alone
    with pytest.raises(ValueError, match="checks alone"):
        db.checks_verdict([{"kind": "sanity", "holds": True}])
    db.write_dashboard(tmp_path, tmp_path / "claims.md", ["theorem1"], "smoke")
    dash = (tmp_path / "claims.md").read_text()
    assert "## Sanity checks" in dash and "0 of 0 sanity checks hold" in dash


def test_dashboard_sanity_section_and_counts(tmp_path):
    c = chapter(tmp_path, "theorem1")
    c.at_most("gap", "the gap ≤ 2/I", 0.1, 0.2)
    c.true("assumption1", "by construction", True, kind="sanity")
    c.save()
    db.write_dashboard(tmp_path, tmp_path / "claims.md", ["theorem1", "missing"], "smoke")
    dash = (tmp_path / "claims.md").read_text()
    assert "**1 of 1 checks hold.** 1 of 1 sanity checks hold." in dash
    sanity = dash.split("## Sanity checks")[1].split("## All claims")[0]
    details = dash.split("## All claims")[1]
    assert "`assumption1`" in sanity and "`assumption1`" not in details and "`gap`" in details
    assert "**no result**" in dash and "this one" in dash            # the registry hash is the current one


def test_findings_that_name_no_part_are_refused_naming_the_chapter(tmp_path):
    c = chapter(tmp_path, "parallel_relu")
    c.judge("same", "rank one, same signs: P2 says zero gap", statement="P2.relu_rank1:zero_gap", estimate=0.0,
            low=0.0, high=1e-3, side="below", gate=gate_from("P2.relu_rank1:zero_gap", 0.0), replicates=3)
    c.judge("opp", "rank one, opposite signs", statement="P2.relu_rank1:unqualified", estimate=0.24, low=0.23,
            high=0.25, side="below", gate=gate_from("P2.relu_rank1:unqualified", 0.0), replicates=3)
    c.save()
    rows = rows_by_ref(tmp_path, ["parallel_relu"])
    same, opp = rows["P2.relu_rank1:zero_gap"], rows["P2.relu_rank1:unqualified"]
    assert same.verdict == "reproduced" and opp.verdict == "not reproduced"
    page = db.verdicts_markdown([same, opp])
    assert "NOT reproduced</span> under our definitions" in page and "our reading" in page and "P2's abstract" in page
    data = json.loads((tmp_path / "parallel_relu.claims.json").read_text())
    data["claims"][0]["statement"] = None                            # a claims file from before the registry
    with pytest.raises(ValueError, match="parallel_relu.*name no statement part.*rerun"):
        db.statement_rows({"parallel_relu": data["claims"]})


def test_statements_without_a_result_say_so(tmp_path):
    rows = rows_by_ref(tmp_path, [])
    assert rows["P1.table1:trend"].verdict == "no result"
    db.write_verdicts(tmp_path, tmp_path / "verdicts.md")
    assert "no result" in (tmp_path / "verdicts.md").read_text()


def test_our_own_views_are_shown_but_never_vote(tmp_path):
    c = chapter(tmp_path, "landscape_verdict")
    endpoint(c, "as_trained", 0.5, 0.7, primary=True)                # not reproduced, votes
    endpoint(c, "aligned", 0.01, 0.02, votes=False)                  # reproduced, our own view: must not vote
    c.save()
    row = rows_by_ref(tmp_path, ["landscape_verdict"])["P1.fig1:endpoint"]
    assert row.verdict == "not reproduced"
    assert "1 of our own views" in row.why and "1 of 1 trained settings agree" in row.why
    assert db.part_verdict([{"outcome": "reproduced", "gate": "trained", "votes": False}]) == "inconclusive"
    with pytest.raises(ValueError, match="primary finding must vote"):
        endpoint(chapter(tmp_path, "x"), "p", 0.0, 0.1, primary=True, votes=False)


def test_dashboard_folds_data_descriptions_and_puts_the_verdict_first(tmp_path):
    assert db.data_html([]) == "—"
    folded = db.data_html(["synthetic: x ~ N(0, I_2), a long description | with a bar", "MNIST: 60,000 images"])
    assert folded.startswith("<details><summary>synthetic, MNIST</summary>") and "\\|" in folded
    c = chapter(tmp_path, "theorem1")
    c.at_most("gap", "the gap ≤ 2/I", 0.1, 0.2)
    c.save()
    db.write_dashboard(tmp_path, tmp_path / "claims.md", ["theorem1"], "smoke")
    dash = (tmp_path / "claims.md").read_text()
    assert "| verdict | check | what |" in dash                       # the verdict column first
    assert '<span class="num">0.1</span>' in dash                      # numbers never break (companion.css .num)
    page = db.verdicts_markdown(list(rows_by_ref(tmp_path, ["theorem1"]).values()))
    assert page.startswith("```{container} verdicts-table\n| verdict | paper item |")
