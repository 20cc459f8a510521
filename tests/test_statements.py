"""The registry of the papers' statements: it loads, its hash is the file's, and bad entries are refused."""

import hashlib
from importlib import resources

import pytest
import yaml

from companion.book import statements as reg

GOOD = """
statements:
  - id: P1.x
    paper: P1
    where: "§1"
    kind: experiment
    chapter: demo
    says: "a thing falls"
    provenance: text
    parts:
      - id: trend
        says: "it falls"
        threshold: {value: 0.0, unit: slope, margin: 0.1, why: "any fall"}
        gate: {quantity: loss, criterion: at_most, value: 0.5, why: "trained"}
      - id: endpoint
        says: "it ends low"
        threshold: {value: 0.2, unit: ratio, why: "small"}
        gate: {quantity: loss, criterion: at_most, value: 0.5, why: "trained"}
  - id: P2.y
    paper: P2
    where: abstract
    kind: theorem
    chapter: [demo, other]
    says: "zero gap"
    provenance: abstract
    parts:
      - {id: zero_gap, says: "zero", provenance: our reading}
"""


def test_the_package_registry_loads_with_every_part_the_chapters_need():
    refs = reg.part_refs()
    for r in ("P1.fig1:trend", "P1.fig1:endpoint", "P1.fig4:trend", "P1.fig4:endpoint", "P1.table1:trend",
              "P1.table1:rates", "P1.fig5:trend", "P1.fig5:monotone", "P1.fig3:bound", "P1.thm1:bound",
              "P1.thm2:zero_gap", "P2.relu_rank1:zero_gap", "P2.relu_rank1:unqualified", "P2.parallel_relu:zero_gap"):
        assert r in refs
    for st in reg.statements().values():
        for p in st.parts:
            if p.judged_by == "findings":
                assert p.threshold.why and p.gate.why and len(reg.band(p.threshold)) >= 6
            if st.paper == "P1":
                assert p.provenance == "text"
    assert reg.part("P1.fig1:endpoint")[1].threshold.value == 0.1
    assert reg.part("P1.table1:rates")[1].alpha.value == 0.05
    assert reg.part("P2.relu_rank1:unqualified")[1].provenance == "our reading"
    assert reg.part("P2.relu_rank1:zero_gap")[1].provenance == "abstract"


def test_registry_hash_is_the_files_sha256():
    raw = resources.files("companion.book").joinpath("statements.yaml").read_bytes()
    assert reg.registry_hash() == hashlib.sha256(raw).hexdigest()[:16] and len(reg.registry_hash()) == 16


def test_unknown_statement_or_part_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown statement 'P1.fig9'.*P1.fig1"):
        reg.part("P1.fig9:trend")
    with pytest.raises(ValueError, match="no part 'slope'.*trend, endpoint"):
        reg.part("P1.fig1:slope")
    with pytest.raises(ValueError, match="STATEMENT:PART"):
        reg.part("P1.fig1")


def test_bands_multiplicative_or_additive_around_zero():
    st = reg.parse_registry(GOOD)
    assert st["P2.y"].chapters == ("demo", "other") and st["P1.x"].chapters == ("demo",)
    assert reg.band(st["P1.x"].part("endpoint").threshold) == [0.1, 0.15, 0.2, 0.3, 0.4, 0.6]
    assert reg.band(st["P1.x"].part("trend").threshold) == [-0.2, -0.1, -0.05, 0.0, 0.05, 0.1, 0.2]
    assert st["P2.y"].part("zero_gap").judged_by == "checks"      # a theorem's default


def _edit(fn):
    raw = yaml.safe_load(GOOD)
    fn(raw["statements"])
    return yaml.safe_dump(raw)


@pytest.mark.parametrize("edit, message", [
    (lambda s: s[0]["parts"][1].pop("threshold"), "missing 'threshold'"),
    (lambda s: s[0]["parts"][1]["threshold"].pop("why"), "missing 'why'"),
    (lambda s: s[0]["parts"][0]["threshold"].pop("margin"), "needs a margin"),
    (lambda s: s[0]["parts"][1]["threshold"].update(margin=0.1), "only for a threshold of 0"),
    (lambda s: s[0]["parts"][1].pop("gate"), "missing 'gate'"),
    (lambda s: s[0]["parts"][1]["gate"].update(criterion="below"), "unknown criterion"),
    (lambda s: s[0].update(kind="figure"), "unknown kind"),
    (lambda s: s[0].update(provenance="abstract"), "provenance"),
    (lambda s: s[1].update(provenance="hearsay"), "unknown provenance"),
    (lambda s: s[0]["parts"][1].update(id="trend"), "repeated"),
    (lambda s: s.append(dict(s[0])), "registered twice"),
    (lambda s: s[1]["parts"][0].update(threshold={"value": 1, "unit": "u", "why": "w"}), "judged by checks"),
    (lambda s: s[1].update(id="P1.y"), "must start with its paper"),
])
def test_bad_registries_are_refused(edit, message):
    with pytest.raises(ValueError, match=message):
        reg.parse_registry(_edit(edit))
