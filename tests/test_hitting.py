"""P1 Table 1's protocol: rows in trainer blocks, hit counting, resuming from the store, the tables, the findings
and the benchmark's bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from companion.core.stats import exact_tests_holm, logistic_slope, wilson_interval
from companion.training import hitting
from companion.training.hitting import (PAPER_HITS, BlockRun, Protocol, Rates, Table1, benchmark, block_configs,
                                        check_trainer, findings, heatmap, protocol_rows, rates_frame, run_protocol,
                                        run_protocols, summary_frame, verdict_numbers)

SMALL = Protocol(n=120, d=5, teacher_hidden=4, batch_size=30, steps=300, check_every=20)


def rates(widths, S, hits, **kw) -> Rates:
    z = np.zeros(len(widths), dtype=int)
    base = dict(batch_hits=z, median_steps=np.full(len(widths), 5.0), net_steps=0, seconds=0.0, changing=z,
                converged=z, at_cap=z, cuts=z)
    return Rates(widths=list(widths), S=S, hits=np.array(hits), **(base | kw))


def test_vary_changes_one_field_and_refuses_unknown_ones():
    p = Protocol()
    q = p.vary(lr=0.5)
    assert q.lr == 0.5 and p.lr == 0.1 and q.batch_size == p.batch_size
    with pytest.raises(ValueError, match="unknown protocol field"):
        p.vary(learning_rate=0.5)


def test_hits_follow_the_threshold_on_the_full_data_loss():
    every = run_protocol(SMALL.vary(hit_loss=1e9), [2, 6], 3)
    none = run_protocol(SMALL.vary(hit_loss=-1.0), [2, 6], 3)
    assert every.hits.tolist() == [3, 3] and none.hits.tolist() == [0, 0]
    assert every.net_steps == none.net_steps <= 6 * 300
    assert (every.median_steps <= 300).all()


def test_full_batch_hits_are_rule_stops():
    """With the whole data as the minibatch, the rule's stop (loss < 1e-5) is a hit (loss ≤ 1e-5)."""
    p = Protocol(n=100, d=4, teacher_hidden=3, batch_size=100, lr=2.0, steps=3000, check_every=50)
    r = run_protocol(p, [6, 12], 4)
    assert r.hits.sum() >= 1, "some wide networks must fit 100 points"
    assert r.hits.tolist() == r.batch_hits.tolist()


def test_rows_sharing_data_and_batch_size_are_one_block_and_each_row_as_if_alone():
    rows = {"a": (SMALL, 3), "b": (SMALL.vary(rule="none", lr=0.5), 2), "c": (SMALL.vary(batch_size=40), 2),
            "d": (SMALL.vary(teacher_weights="orthonormal", tau=0.5), 2), "e": (SMALL.vary(init_scale=0.3), 2)}
    configs = block_configs(rows, [2, 6])
    assert [[r[0] for r in c["rows"]] for c in configs] == [["a", "b", "e"], ["c"], ["d"]]
    assert [c["label"] for c in configs] == ["B = 30", "B = 40", "B = 30, orthonormal teacher"]
    together = run_protocols(rows, [2, 6])
    assert len(together.blocks) == 3 and together.block_of("e").networks == 3 * 2 + 2 * 2 + 2 * 2
    for name, row in rows.items():                      # a lane's numbers do not depend on its neighbours
        alone = run_protocols({name: row}, [2, 6])[name]
        got = together[name]
        for f in ("hits", "batch_hits", "median_steps", "changing", "converged", "at_cap", "cuts"):
            assert getattr(got, f).tolist() == getattr(alone, f).tolist(), (name, f)
        assert got.net_steps == alone.net_steps
    b = together.block_of("a")
    assert b.net_steps == sum(together[k].net_steps for k in "abe")
    assert b.flop == pytest.approx(4 * 30 * (5 + 1) * b.unit_steps)


def test_a_rerun_resumes_from_the_store(tmp_path, monkeypatch):
    rows = {"a": (SMALL, 2), "c": (SMALL.vary(batch_size=40, rule="none"), 2)}
    first = run_protocols(rows, [3, 5], store=tmp_path)
    files = sorted(tmp_path.glob("*.pkl"))
    assert len(files) == 2                              # one result per block
    calls = []
    real = hitting.train_block
    monkeypatch.setattr(hitting, "train_block", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = run_protocols(rows, [3, 5], store=tmp_path)
    assert calls == [] and again["a"].hits.tolist() == first["a"].hits.tolist()
    files[0].unlink()                                   # a lost worker: one block missing
    resumed = run_protocols(rows, [3, 5], store=tmp_path)
    assert calls == [1], "only the lost block is trained again"
    for k in rows:
        assert resumed[k].hits.tolist() == first[k].hits.tolist()
        assert resumed[k].median_steps.tolist() == first[k].median_steps.tolist()


def test_a_fixed_budget_too_short_is_still_changing_and_fails_the_gate():
    short = run_protocol(SMALL.vary(rule="none", steps=40, lr=0.05), [6], 4)
    assert short.changing.tolist() == [4] and short.changing_share == 1.0 and short.at_cap.tolist() == [4]
    t = Table1({"x": short}, [])
    with pytest.raises(StopIteration):
        t.block_of("x")


def test_rates_frame_uses_wilson_intervals_exact_tests_and_the_papers_rates():
    r = rates([10, 21], 100, [2, 40], batch_hits=np.array([5, 60]))
    t = rates_frame({"x": r}, alpha=0.05).set_index("width")
    lo, hi = wilson_interval(np.array([2, 40]), 100)
    assert t.low.tolist() == pytest.approx(lo.tolist()) and t.high.tolist() == pytest.approx(hi.tolist())
    assert t.paper.tolist() == [PAPER_HITS[10] / 100, PAPER_HITS[21] / 100]
    assert t.paper_inside.tolist() == [True, False]           # 2/100 inside, 75/100 far above 40/100
    _, p_holm = exact_tests_holm(np.array([2, 40]), 100, np.array([2, 75]), 100)
    assert t.p_holm.tolist() == pytest.approx(p_holm.tolist())
    assert t.consistent.tolist() == [True, False] and p_holm[0] == 1.0 and p_holm[1] < 1e-5


def test_protocol_rows_put_every_ablation_under_both_protocols():
    p = Protocol(steps=900)
    rows = protocol_rows(p, 10, {"fixed": {"rule": "none"}, "gd": {"batch_size": 1000}},
                         {"lr 1": {"lr": 1.0}, "long": {"lr": 0.01, "steps": 5000}}, S_ablation=3, fixed="fixed")
    assert list(rows) == ["headline", "fixed", "gd", "lr 1 · rule", "lr 1 · fixed", "long · rule", "long · fixed"]
    assert rows["headline"] == (p, 10) and rows["fixed"] == (p.vary(rule="none"), 10)
    assert rows["lr 1 · rule"] == (p.vary(lr=1.0), 3) and rows["lr 1 · fixed"] == (p.vary(lr=1.0, rule="none"), 3)
    assert rows["long · fixed"][0].steps == 5000 and rows["long · fixed"][0].rule == "none"
    assert hitting.row_kind("lr 1 · fixed") == "fixed" and hitting.row_kind("gd") == "protocol"
    with pytest.raises(ValueError, match="must name one of the protocol rows"):
        protocol_rows(p, 10, {"gd": {}}, {}, S_ablation=3, fixed="fixed")


def hand_made():
    W = [10, 11, 12]
    protocols = {"headline": (Protocol(), 100), "fixed": (Protocol(rule="none"), 100),
                 "cuts": (Protocol(rule="cuts"), 100), "gd": (Protocol(batch_size=1000, lr=2.0), 100),
                 "lr 1 · rule": (Protocol(lr=1.0), 20), "lr 1 · fixed": (Protocol(lr=1.0, rule="none"), 20)}
    r = {"headline": rates(W, 100, [0, 0, 0], batch_hits=np.array([100, 100, 100]), median_steps=np.array([3., 4., 5.])),
         "fixed": rates(W, 100, [55, 86, 94], converged=np.array([55, 86, 94]), changing=np.array([5, 0, 1])),
         "cuts": rates(W, 100, [55, 86, 93]),
         "gd": rates(W, 100, [2, 12, 20]),
         "lr 1 · rule": rates(W, 20, [0, 0, 0]),
         "lr 1 · fixed": rates(W, 20, [10, 20, 20], changing=np.array([10, 0, 0]))}
    blk = BlockRun("B = 100", 100, 10, {k: v for k, v in r.items() if k != "gd"}, 6, 0, 0, 1.0, "compiled")
    T = Table1(r, [blk, BlockRun("B = 1000", 1000, 10, {"gd": r["gd"]}, 1, 0, 0, 1.0, "compiled")])
    return T, protocols


def test_summary_and_verdict_numbers_follow_from_the_rows():
    T, protocols = hand_made()
    s = summary_frame(T, protocols, gate_max=0.1)
    assert s.loc["fixed", "hits"] == 235 and s.loc["fixed", "changing"] == pytest.approx(6 / 300)
    assert not s.loc["lr 1 · fixed", "trained"]                     # 10 of 60 still changing > 0.1
    assert s.kind.tolist() == ["protocol"] * 4 + ["rule", "fixed"]
    assert s.loc["gd", "block"] == "B = 1000" and s.loc["fixed", "step cap"] == 100_000
    b, lo, hi = logistic_slope(np.array([10, 11, 12]), np.array([55, 86, 94]), 100)
    assert s.loc["fixed", "slope"] == pytest.approx(b) and lo < b < hi
    v = verdict_numbers(T, s, headline="headline", fixed="fixed", cuts="cuts", gd="gd")
    assert (v["head_hits"], v["head_nets"], v["head_stop"], v["head_steps"]) == (0, 300, 1.0, 4.0)
    assert (v["fixed_lo"], v["fixed_hi"], v["fixed_conv"]) == (0.55, 0.94, pytest.approx(235 / 300))
    assert v["cuts_same"] == 2 and v["cuts_made"] == 0
    assert v["best"] == "gd" and v["best_n"] == s.loc["gd", "consistent"] >= 2          # gd is P1-like at 10 and 11
    assert (v["rule_rows"], v["rule_hit_rows"], v["fixed_hit_rows"], v["fixed_trained"]) == (1, 0, 1, 0)


def test_findings_judge_per_width_rates_and_a_trend_per_row():
    T, _ = hand_made()
    fs = findings(T, rates_rows=["headline", "fixed"], trend_rows=["headline", "fixed", "gd"], primary="headline")
    ids = [f.id for f in fs]
    assert ids == ["trend", "trend_fixed", "trend_gd", "rate_I10", "rate_I11", "rate_I12", "fixed_rate_I10",
                   "fixed_rate_I11", "fixed_rate_I12"]
    assert [f.id for f in fs if f.primary] == ["trend", "rate_I12"]
    _, p_holm = exact_tests_holm(np.array([55, 86, 94]), 100, np.array([2, 9, 21]), 100)
    assert [f.p_holm for f in fs[-3:]] == pytest.approx(p_holm.tolist())
    assert all(f.p_holm is None and f.statement == "P1.table1:trend" for f in fs[:3])
    assert fs[1].changing == pytest.approx(6 / 300) and fs[1].replicates == 300
    assert np.isnan(fs[0].estimate)                       # no hits at all: no slope


def test_heatmap_puts_p1_on_the_first_row():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T, _ = hand_made()
    fig, ax = plt.subplots()
    im = heatmap(ax, rates_frame(T.rates), ["fixed", "gd"])
    M = np.asarray(im.get_array())
    assert M.shape == (3, 3)
    assert M[0].tolist() == pytest.approx([0.02, 0.09, 0.21]) and M[1].tolist() == pytest.approx([0.55, 0.86, 0.94])
    assert ax.get_yticklabels()[0].get_text() == "P1 Table 1"
    plt.close(fig)


def test_figure_gives_each_protocol_row_its_own_panel_and_readable_text():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from companion.core.plotting import MIN_FONT, figure_texts
    from companion.training.hitting import figure

    T, _ = hand_made()
    fig = figure(rates_frame(T.rates), T, ["fixed", "gd"])
    panels = [a for a in fig.axes if a.get_title().split("\n")[0] in ("fixed", "gd")]
    assert len(panels) == 2                                        # small multiples: no row drawn over another
    assert all(len(a.lines) >= 2 for a in panels)                  # P1's reference and the row's own rates
    sizes = [t.get_fontsize() for t in figure_texts(fig)]
    assert sizes and min(sizes) >= MIN_FONT
    plt.close(fig)


def test_check_trainer_finds_the_block_equal_to_autograd():
    p = Protocol(n=120, d=5, teacher_hidden=4, batch_size=30)
    diff, same = check_trainer(p, seed=2, steps=60, widths=(3, 5, 2, 4, 6, 3))
    assert diff < 1e-10 and same


def test_benchmark_reports_every_design():
    b = benchmark([3, 5], 2, 20, old_steps=5, autograd_steps=3, batch_size=20, n=60, d=4)
    for k in ("block", "block_1thread", "per_width", "onehidden_block", "torch_block", "autograd"):
        assert b[f"{k}_net_steps_per_s"] > 0 and b[f"{k}_gflops"] > 0
    # GFLOP/s per network·step/s = FLOP per network·step (4·B·(d+1)·mean width)
    assert b["autograd_gflops"] * 1e9 / b["autograd_net_steps_per_s"] == pytest.approx(4 * 20 * 5 * 4)


def test_table1_seed_layout_keeps_the_old_formula():
    from companion.core import seeds

    assert seeds.derive_many(3, "table1_net", "net", 4, width=21) == [3 * 100_000 + 1000 * 21 + s for s in range(4)]


@pytest.mark.slow
def test_blocks_fan_out_to_dask_identically():
    pytest.importorskip("distributed")
    rows = {"sgd": (SMALL, 3), "fixed": (SMALL.vary(rule="none"), 2), "full batch": (SMALL.vary(batch_size=120, lr=2.0), 2)}
    local = run_protocols(rows, [2, 5])
    dask = run_protocols(rows, [2, 5], scheduler="local:2")
    assert list(dask) == list(local) and len(dask.blocks) == 2
    for name in rows:
        for f in ("hits", "batch_hits", "median_steps", "changing", "converged"):
            assert getattr(local[name], f).tolist() == getattr(dask[name], f).tolist(), (name, f)
        assert local[name].net_steps == dask[name].net_steps
