"""P1 Table 1's protocol: one-factor variations, hit counting, the table and the benchmark's bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from companion.training.hitting import PAPER_HITS, Protocol, Rates, benchmark, rates_frame, run_protocol
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
