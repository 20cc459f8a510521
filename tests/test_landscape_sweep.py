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


def test_the_fixed_rate_cap_grows_with_I_and_its_widths_are_its_own():
    A, B, O = sw.Setting("authors"), sw.Setting("authors", 0.0, "times_I"), sw.Setting("ours")
    D = sw.Setting("authors", 0.001, "fixed")
    tr = sw.Training(steps=500, steps_ours=300, steps_fixed_per_I=200, Is_fixed=[1, 10])
    assert [tr.cap(A, I) for I in (1, 2, 3, 10)] == [500, 500, 600, 2000] and tr.cap(D, 10) == 2000
    assert (tr.cap(B, 10), tr.cap(O, 10)) == (500, 300)
    assert [tr.runs_at(A, I) for I in (1, 3, 10)] == [True, False, True] and tr.runs_at(B, 3) and tr.runs_at(O, 3)
    names = lambda bl: [(p, c, [s.slug for s in b]) for p, c, b in bl]                        # noqa: E731
    # at I = 1 every authors' setting has cap 500: one batch, as before; at I = 10 the fixed ones have their own
    assert names(sw.blocks([A, B, D, O], 1, tr)) == [("authors", 500, [A.slug, B.slug, D.slug]), ("ours", 300, ["ours"])]
    assert names(sw.blocks([A, B, D, O], 10, tr)) == [("authors", 2000, [A.slug, D.slug]), ("authors", 500, [B.slug]),
                                                      ("ours", 300, ["ours"])]
    assert names(sw.blocks([A, B, O], 3, tr)) == [("authors", 500, [B.slug]), ("ours", 300, ["ours"])]
    assert sw.Training().cap(A, 1000) == sw.Training().steps and sw.Training().runs_at(A, 1000)   # the defaults: as before
    with pytest.raises(ValueError, match="steps_fixed_per_I"):
        sw.Training(steps_fixed_per_I=-1)
    with pytest.raises(ValueError, match="Is_fixed"):
        sw.Training(Is_fixed=[0, 3])


def test_the_fixed_rate_trains_to_its_own_cap_in_its_own_batch():
    x, y = tiny()
    # full batches at a small rate: the loss falls at every check, so the authors' rule never ends a run and
    # every run goes to its cap
    tr = sw.Training(lr=0.02, batch_size=60, steps=20, check_every=10, steps_ours=20, steps_fixed_per_I=15)
    kw = dict(I=4, widths=(3, 2, 1), T=2, seed=3, device=CPU, dtype=torch.float64)
    A, B = sw.Setting("authors"), sw.Setting("authors", 0.0, "times_I")
    both = {t.setting: t for t in sw.train_triples(x, y, tau_hinge, settings=[A, B], training=tr, **kw)}
    assert (both[A].cap, both[B].cap) == (60, 20)
    assert (both[A].steps == 60).all() and (both[B].steps == 20).all()
    alone_A = sw.train_triples(x, y, tau_hinge, settings=[A], training=sw.Training(
        lr=0.02, batch_size=60, steps=60, check_every=10, steps_ours=20), **kw)[0]
    alone_B = sw.train_triples(x, y, tau_hinge, settings=[B], training=sw.Training(
        lr=0.02, batch_size=60, steps=20, check_every=10, steps_ours=20), **kw)[0]
    for got, ref in ((both[A], alone_A), (both[B], alone_B)):
        for W, V in zip(got.layers, ref.layers):
            torch.testing.assert_close(W, V)


def test_the_sweep_runs_the_fixed_rate_at_its_widths_only():
    x, y = tiny()
    tr = sw.Training(lr=0.3, batch_size=16, steps=20, check_every=10, steps_ours=20, steps_fixed_per_I=10,
                     Is_fixed=[1, 3])
    A, B = sw.Setting("authors"), sw.Setting("authors", 0.0, "times_I")
    kw = dict(widths=(3, 2, 1), settings=[A, B], T=2, seed=0, views=("none",), radii=[1.0], G=3, K=3, device=CPU,
              dtype=torch.float64)
    rows, _, runs = sw.sweep(x, y, tau_hinge, Is=[1, 3, 5], training=tr, **kw)
    assert sorted(set(rows[rows.setting == A.name].I)) == [1, 3] and sorted(set(rows[rows.setting == B.name].I)) == [1, 3, 5]
    caps = runs.groupby(["setting", "I"]).cap.max()
    assert caps[(A.name, 1)] == 20 and caps[(A.name, 3)] == 30 and caps[(B.name, 3)] == 20
    f = {d["id"]: d for d in sw.findings({"synthetic": rows}, {"synthetic": [A, B]}, seed=0, views=("none",))}
    assert "widest I = 3 " in f["fig1_endpoint_barrier_authors_wd0_fixed"]["description"]
    assert "over I = 1, 3 " in f["fig1_trend_barrier_authors_wd0_fixed"]["description"]
    assert "over I = 1, 3, 5 " in f["fig1_trend_barrier_authors_wd0_timesI"]["description"]
    with pytest.raises(ValueError, match="Is_fixed"):
        sw.sweep(x, y, tau_hinge, Is=[1, 5], training=tr, **kw)


def test_the_fixed_rate_words_name_the_widths_left_out_and_their_steps():
    tr = sw.Training(lr=0.1, steps=5000, steps_fixed_per_I=4000, Is_fixed=[1, 3, 10, 30])
    w = sw.fixed_rate_words(tr, [1, 3, 10, 30, 70, 100, 300, 1000])
    assert (w["fixed_Is"], w["fixed_widest"]) == ("1, 3, 10, 30", "30")
    assert w["fixed_caps"] == "5,000, 12,000, 40,000, 120,000"
    s = w["fixed_skipped"]
    assert s.startswith("At I = 70, 100, 300, 1,000 the fixed rate is not run") and "rate 0.1/I" in s
    assert "max(5,000, 4,000·I)" in s and "280,000, 400,000, 1,200,000, 4,000,000 steps" in s and "I²" in s
    assert "at most 120,000 at I = 30" in s and "the paper preset runs them" in s and "`" not in s
    assert sw.fixed_rate_words(sw.Training(), [1, 10])["fixed_skipped"] == "The fixed rate runs at every width."


def test_the_window_plot_draws_the_settings_run_at_the_widest_I():
    from companion.landscapes import figures

    A, B = sw.Setting("authors"), sw.Setting("authors", 0.0, "times_I")
    s = pd.DataFrame([{"I": I, "setting": st.name, "view": "none", "score@0.5": 0.3, "score@2": 0.1}
                      for st, Is in ((A, (1, 3)), (B, (1, 3, 10))) for I in Is])
    fig = figures.score_by_window(s, [A, B], [0.5, 2.0])
    assert [ln.get_label() for ln in fig.axes[0].lines] == [B.name]           # A stops at I = 3: no curve at I = 10
