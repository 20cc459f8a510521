"""The landscape sweep: settings batched like seeds, the per-triple measures, intervals and the rules (a)–(d)."""

import numpy as np
import pandas as pd
import pytest
import torch

from companion.landscapes import verdict as sw
from companion.core.data import synthetic_teacher
from companion.training.losses import tau_hinge

CPU = torch.device("cpu")


def tiny():
    ds = synthetic_teacher(n=60, d=3, hidden=2, seed=1)
    return ds.x.double(), ds.y.double()


def test_settings_batched_equal_each_trained_alone():
    x, y = tiny()
    tr = sw.Training(lr=0.3, batch_size=16, steps=40, check_every=10, steps_ours=40)
    kw = dict(I=4, widths=(3, 2, 1), T=2, seed=3, training=tr, device=CPU, dtype=torch.float64)
    both = sw.train_triples(x, y, tau_hinge, settings=sw.settings_grid([0.0, 0.01], ["times_I"], ours=False), **kw)
    alone = sw.train_triples(x, y, tau_hinge, settings=[sw.Setting("authors", 0.01, "times_I")], **kw)
    for W, V in zip(both[1].layers, alone[0].layers):
        torch.testing.assert_close(W, V)
    assert both[0].x.shape[1] == 4 and both[0].n_fixed == 1            # the bias column and constant unit
    assert not torch.equal(both[0].layers[0], both[1].layers[0])      # weight decay changed something


def test_sweep_rows_and_intervals():
    x, y = tiny()
    tr = sw.Training(lr=0.3, batch_size=16, steps=30, check_every=10, steps_ours=30)
    rows, secs, runs = sw.sweep(x, y, tau_hinge, Is=[1, 3], widths=(3, 2, 1), settings=sw.settings_grid([0.0], ["fixed"]),
                          T=2, seed=0, training=tr, views=("none", "aligned"), radii=[0.5, 2.0], G=5, K=5,
                          device=CPU, dtype=torch.float64)
    assert len(rows) == 2 * 2 * 2 * 2 and set(secs) == {"train", "measure"}   # I × settings × views × triples
    assert len(runs) == 2 * 2 * 2 * 3 and set(runs.cap) == {30}                 # I × settings × triples × members
    assert set(rows.converged) <= {0, 1 / 3, 2 / 3, 1} and (rows.steps_min <= rows.steps).all()
    q = runs[(runs.I == 3) & (runs.setting == rows.setting.iloc[0])]
    r = rows[(rows.I == 3) & (rows.setting == rows.setting.iloc[0]) & (rows.view == "none")].sort_values("triple")
    np.testing.assert_allclose(q.groupby("triple").converged.mean(), r.converged)   # the rows' share = the runs'
    np.testing.assert_allclose(q.groupby("triple").loss_rel.mean(), r.loss_rel)
    assert {"gap", "barrier", "loss_rel", "acc", "extent", "score@0.5", "score@2"} <= set(rows.columns)
    assert (rows.barrier >= 0).all() and rows.loss_rel.between(0, 2).all() and rows.acc.between(0, 1).all()
    assert rows.loss_drift.max() < 1e-10                                   # aligning keeps every loss
    s = sw.summarise(rows)
    assert len(s) == 2 * 2 * 2 and (s.triples == 2).all()
    assert ((s.gap_lo <= s.gap) & (s.gap <= s.gap_hi)).all()
    g = rows[(rows.I == 3) & (rows.view == "none") & (rows.setting == s.setting.iloc[0])].gap
    np.testing.assert_allclose(s[(s.I == 3) & (s.view == "none")].gap.iloc[0], g.mean())
    with pytest.raises(ValueError, match="at least 2 seed triples"):
        sw.sweep(x, y, tau_hinge, Is=[1], widths=(3, 2, 1), settings=[sw.Setting("ours")], T=1, seed=0, training=tr,
                 views=("none",), radii=[1.0], G=3, device=CPU)


def cell(I, setting, view, gap, barrier, loss, s_small=0.5, s_large=0.1, half=0.01):
    """One summary row with intervals ± half."""
    r = {"I": I, "setting": setting, "view": view, "triples": 5}
    for k, v in (("gap", gap), ("barrier", barrier), ("loss_rel", loss), ("score@0.3", s_small), ("score@4", s_large)):
        r.update({k: v, f"{k}_lo": v - half, f"{k}_hi": v + half})
    return r


def test_explain_rules_on_hand_made_summaries():
    nz, col = 0.1, 0.5
    # symmetry + collapse: the trained setting keeps a barrier as trained, none aligned; the decayed one is flat
    # only because it collapsed to the zero function
    s = pd.DataFrame([cell(10, "A", "none", 0.3, 0.3, 0.05), cell(10, "A", "aligned", 0.02, 0.02, 0.05),
                      cell(10, "B", "none", 0.01, 0.01, 0.95), cell(10, "B", "aligned", 0.0, 0.0, 0.95),
                      cell(1, "A", "none", 0.4, 0.4, 0.3), cell(1, "A", "aligned", 0.4, 0.4, 0.3)])
    e = sw.explain(s, near_zero=nz, collapse=col)
    assert (e.a, e.b, e.c, e.d) == (False, True, True, True)
    assert e.flat == [(10, "B")] and e.flat_trained == [] and e.trained_at_max == ["A"]
    # P1 right: every setting flat and well trained at the widest I
    s2 = pd.DataFrame([cell(10, "A", "none", 0.01, 0.02, 0.05), cell(10, "A", "aligned", 0.01, 0.02, 0.05)])
    e2 = sw.explain(s2, near_zero=nz, collapse=col)
    assert (e2.a, e2.b, e2.c, e2.d) == (True, False, False, False)
    # an interval straddling the threshold is neither flat nor not flat; a score that rises with the window is not (b)
    s3 = pd.DataFrame([cell(10, "A", "none", 0.1, 0.3, 0.05, s_small=0.1, s_large=0.5),
                       cell(10, "A", "aligned", 0.1, 0.1, 0.05)])
    e3 = sw.explain(s3, near_zero=nz, collapse=col)
    assert (e3.a, e3.b, e3.c, e3.d) == (False, False, False, False)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="unknown rate scaling"):
        sw.settings_grid([0.0], ["doubled"])
    with pytest.raises(ValueError, match="≥ 0"):
        sw.settings_grid([-1e-3], ["fixed"])


def test_converged_by_rule_or_a_settled_loss():
    from companion.landscapes.measures import converged

    nan = np.nan
    # checks every 10 steps, cap 100: the window is the last tenth, one check back (step 90 → 100)
    h = np.array([[1.0, 1.0, 1.0, 1.0, 1.0]] * 10 + [[0.5, 0.500, 0.30, nan, nan]], dtype=float)
    h[9] = [0.5, 0.52, 0.40, 0.7, 0.7]
    h[8:, 3] = nan                                      # run 3 stopped at step 75 by its rule
    steps = np.array([100, 100, 100, 75, 100])
    final = np.array([0.5, 0.5, 0.3, 0.6, nan])         # run 4 diverged
    got = converged(h, steps, final, 100, check_every=10, rel_tol=0.01, scale=1.0)
    assert got.tolist() == [True, False, False, True, False]
    # the tolerance is in units of scale (the zero function's loss): 0.02 ≤ 0.01·3
    assert converged(h, steps, final, 100, check_every=10, rel_tol=0.01, scale=3.0).tolist()[:2] == [True, True]
    # a wider window (0.3 of the cap: steps 70 → 100) sees run 0's earlier fall
    h[7, 0] = 0.9
    assert not converged(h, steps, final, 100, check_every=10, rel_tol=0.01, scale=1.0, window=0.3)[0]
    assert converged(torch.tensor(h), torch.tensor(steps), torch.tensor(final), 100, check_every=10, rel_tol=0.01,
                     scale=1.0).tolist() == got.tolist()
    with pytest.raises(ValueError, match="history must be"):
        converged(h[:, :2], steps, final, 100, check_every=10, rel_tol=0.01, scale=1.0)
    with pytest.raises(ValueError, match="rel_tol"):
        converged(h, steps, final, 100, check_every=10, rel_tol=-1, scale=1.0)
