"""P1 Table 1's protocol: one-factor variations, hit counting, the table and the benchmark's bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from companion.training.hitting import (PAPER_HITS, Protocol, Rates, benchmark, check_trainer, protocol_rows, rates_frame,
                                        regime_totals, run_protocol, summary_frame)
from companion.training.onehidden import matmul_flops
from companion.core.stats import wilson_interval


def test_vary_changes_one_field_and_refuses_unknown_ones():
    p = Protocol()
    q = p.vary(lr=0.5)
    assert q.lr == 0.5 and p.lr == 0.1 and q.batch_size == p.batch_size
    with pytest.raises(ValueError, match="unknown protocol field"):
        p.vary(learning_rate=0.5)


def test_hits_follow_the_threshold_on_the_full_data_loss():
    small = Protocol(n=120, d=5, teacher_hidden=4, batch_size=30, steps=300, check_every=20)
    every = run_protocol(small.vary(hit_loss=1e9), [2, 6], 3)
    none = run_protocol(small.vary(hit_loss=-1.0), [2, 6], 3)
    assert every.hits.tolist() == [3, 3] and none.hits.tolist() == [0, 0]
    assert every.net_steps == none.net_steps <= 6 * 300
    assert (every.median_steps <= 300).all()


def test_full_batch_hits_are_rule_stops():
    """With the whole data as the minibatch, the rule's stop (loss < 1e-5) is a hit (loss ≤ 1e-5)."""
    p = Protocol(n=100, d=4, teacher_hidden=3, batch_size=100, lr=2.0, steps=3000, check_every=50)
    r = run_protocol(p, [6, 12], 4)
    assert r.hits.sum() >= 1, "some wide networks must fit 100 points"
    assert r.hits.tolist() == r.batch_hits.tolist()


def test_rates_frame_uses_wilson_intervals_and_the_papers_rates():
    r = Rates(widths=[10, 21], S=100, hits=np.array([2, 40]), batch_hits=np.array([5, 60]),
              median_steps=np.array([100.0, 200.0]), net_steps=0, seconds=0.0)
    t = rates_frame({"x": r}).set_index("width")
    lo, hi = wilson_interval(np.array([2, 40]), 100)
    assert t.low.tolist() == pytest.approx(lo.tolist()) and t.high.tolist() == pytest.approx(hi.tolist())
    assert t.paper.tolist() == [PAPER_HITS[10] / 100, PAPER_HITS[21] / 100]
    assert t.paper_inside.tolist() == [True, False]           # 2/100 inside, 75/100 far above 40/100


def test_benchmark_reports_rates_and_flops_consistently():
    b = benchmark([3, 5], 2, 5, batch_size=20, n=60, d=4, loop_S=1)
    assert set(b) == {"fast", "fast_gflops", "batched_autograd", "loop"} and min(b.values()) > 0
    # GFLOP/s = flops per step × steps / time and network·steps/s = networks × steps / time
    assert b["fast_gflops"] * 1e9 / b["fast"] == pytest.approx(matmul_flops(3 + 3 + 5 + 5, 4, 20) / 4)


def test_protocol_rows_vary_the_headline_one_row_at_a_time():
    p = Protocol(steps=900)
    rows = protocol_rows(p, 10, {"lr 1": {"lr": 1.0}, "fb": {"batch_size": 1000}}, steps=50, S_ablation=3)
    assert list(rows) == ["headline", "lr 1", "fb"]
    assert rows["headline"] == (p, 10)
    assert rows["lr 1"] == (p.vary(lr=1.0, steps=50), 3) and rows["fb"] == (p.vary(batch_size=1000, steps=50), 3)


def test_summary_and_regime_totals_add_up_the_rows():
    p = Protocol(n=1000, batch_size=100)
    protocols = {"headline": (p, 4), "sgd": (p.vary(lr=1.0), 2), "full batch": (p.vary(batch_size=1000), 2)}
    rates = {k: Rates(widths=[10, 12], S=S, hits=np.array(h), batch_hits=np.array(h), median_steps=np.array([5.0, 7.0]),
                      net_steps=0, seconds=0.0)
             for (k, (_, S)), h in zip(protocols.items(), ([1, 2], [0, 1], [2, 1]))}
    table = rates_frame(rates)
    summary = summary_frame(rates, table, protocols)
    assert summary["hits"].tolist() == [3, 1, 3] and summary["seeds × widths"].tolist() == [8, 4, 4]
    assert summary["full batch"].tolist() == [False, False, True]
    tot = regime_totals(summary, table)
    assert (tot["sgd_hits"], tot["sgd_nets"]) == (1, 4)
    assert (tot["fb_rate"], tot["fb_min"], tot["fb_max"]) == (0.75, 0.5, 1.0)


def test_check_trainer_finds_the_fast_trainer_equal_to_autograd():
    p = Protocol(n=120, d=5, teacher_hidden=4, batch_size=30)
    diff, same = check_trainer(p, seed=2, steps=60, widths=(3, 5))
    assert diff < 1e-10 and same


def test_table1_seed_layout_keeps_the_old_formula():
    from companion.core import seeds

    assert seeds.derive_many(3, "table1_net", "net", 4, width=21) == [3 * 100_000 + 1000 * 21 + s for s in range(4)]
