"""The authors' learning-rate rule, vectorised, against a line-by-line transcription of their loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from companion.training.schedule import AuthorsRule, authors_rule_loop


def run_vectorised(losses: np.ndarray, lr: float, **kw) -> tuple[np.ndarray, np.ndarray]:
    """losses (S, T) -> (rates used at each step (S, T), nan after stopping; steps taken (S,))."""
    S, T = losses.shape
    rule = AuthorsRule.start(lr, S, dtype=torch.float64, **kw)
    rates = np.full((S, T), np.nan)
    taken = np.full(S, T)
    for t in range(T):
        live = ~rule.stopped.numpy()
        rates[live, t] = rule.lr.numpy()[live]
        before = rule.stopped.clone()
        stopped = rule.update(torch.as_tensor(losses[:, t]), t + 1)
        taken[(stopped & ~before).numpy()] = t + 1
    return rates, taken


@pytest.mark.parametrize("check_every", [1, 3, 100])
def test_vectorised_rule_equals_the_authors_loop(check_every):
    rng = np.random.default_rng(0)
    S, T = 64, 40 * check_every
    # random walks in log-loss: rises and falls of every size, some reaching below 1e-5, a few nan
    losses = np.exp(np.cumsum(rng.normal(-0.05 / check_every, 0.6 / np.sqrt(check_every), size=(S, T)), 1))
    losses[3, T // 2] = np.nan
    losses[4, T // 3] = np.inf
    rates, taken = run_vectorised(losses, 0.5, check_every=check_every)
    n_cut = 0
    for s in range(S):
        ref_rates, ref_steps = authors_rule_loop(list(losses[s]), 0.5, check_every=check_every)
        assert taken[s] == ref_steps, s
        np.testing.assert_allclose(rates[s, :ref_steps], ref_rates, rtol=1e-15)
        n_cut += ref_rates[-1] < 0.5
    assert n_cut > S // 4, "the random walks must exercise the cuts"


def test_rate_is_cut_tenfold_when_the_loss_rose_since_the_last_cut():
    rule = AuthorsRule.start(1.0, 2, check_every=1, dtype=torch.float64)
    rule.update(torch.tensor([1.0, 1.0]), 1)                       # first check: remember, no cut
    rule.update(torch.tensor([2.0, 0.5]), 2)                       # network 0 rose, network 1 fell
    assert rule.lr.tolist() == pytest.approx([0.1, 1.0])
    assert rule.cuts_left.tolist() == [2, 3]
    rule.update(torch.tensor([1.5, 0.9]), 3)   # both below what they remember (2.0 and 1.0): no cut
    assert rule.lr.tolist() == pytest.approx([0.1, 1.0])
    rule.update(torch.tensor([1.5, 1.2]), 4)                       # network 1 now above its remembered 1.0
    assert rule.lr.tolist() == pytest.approx([0.1, 0.1])


def test_stops_after_three_cuts_and_below_the_stop_loss():
    rule = AuthorsRule.start(1.0, 2, check_every=1, dtype=torch.float64)
    rule.update(torch.tensor([1.0, 1.0]), 1)
    for k, v in enumerate([2.0, 3.0, 4.0]):
        rule.update(torch.tensor([v, 0.5]), k + 2)
    assert rule.lr[0] == pytest.approx(1e-3) and not rule.stopped.any()
    rule.update(torch.tensor([5.0, 1e-6]), 5)                      # a fourth rise stops 0; 1 went below 1e-5
    assert rule.stopped.tolist() == [True, True]
    assert rule.lr[0] == pytest.approx(1e-3)


def test_select_keeps_each_networks_state():
    rule = AuthorsRule.start(torch.tensor([1.0, 2.0, 3.0]), 3, check_every=1)
    sub = rule.select(torch.tensor([2, 0]))
    assert sub.lr.tolist() == [3.0, 1.0] and sub.cuts == 3


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="factor"):
        AuthorsRule.start(1.0, 2, factor=1.5)
