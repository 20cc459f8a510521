"""The landscape chapters' computations (moved out of the notebooks): Figure 1's and Figure 4's panels, tables,
measures and claims, the sweep's row loop, findings, sentences and CSV files, the seed layouts they use, the
alignment check and the figures, on tiny instances."""

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from companion.core import seeds
from companion.core.data import synthetic_teacher
from companion.landscapes import pipeline as pp
from companion.landscapes import symmetry
from companion.landscapes import verdict as sw
from companion.landscapes.measures import score_vs_window
from companion.training.losses import multiclass_hinge, tau_hinge
from companion.training.nets import init_branches

matplotlib.use("Agg")
CPU = torch.device("cpu")


def test_seed_layouts_keep_the_chapters_formulas():
    for seed in (0, 3):
        assert pp.fig4_seeds(seed, 2) == tuple(seed * 1000 + 10 * 2 + k for k in range(3))
        assert seeds.derive_many(seed, "fig1_triple", "solution", 3) == [seed * 1000 + 100 + k for k in range(3)]
        assert seeds.derive_many(seed, "profile_triple", "solution", 3) == [seed + 1, seed + 2, seed + 3]
        assert seeds.derive_many(seed, "sweep_init", "init", 6) == [seed * 10_000 + j for j in range(6)]
    assert pp.fig4_widths(["cifar_deep", "mnist"], [1, 3], [2]) == {"cifar_deep": [2], "mnist": [1, 3]}


@pytest.fixture(scope="module")
def fig1():
    ds = synthetic_teacher(n=80, d=10, hidden=3, seed=4)
    x, y = ds.x.float(), ds.y.float()
    return x, y, pp.fig1_panels(x, y, [2, 5], seed=1, steps=30, lr0=0.5, G=5, margin=0.5, bench_G=3, device=CPU)


def test_fig1_panels_use_their_seeds_and_the_summary_and_measures_match_them(fig1):
    x, y, panels = fig1
    assert list(panels) == [2, 5]
    ref = pp.landscape_panel(x, y, tau_hinge, pp.PanelConfig(
        I=5, widths=(10, 1, 1), seeds=(1100, 1101, 1102), steps=30, lr=2.5, G=5, scale="mean", parametrization="mean",
        bench_G=3, device="cpu"))
    np.testing.assert_array_equal(panels[5].surface, ref.surface)            # the seed layout and the settings
    t = pp.fig1_summary(panels, G=5, bench_G=3, steps=30, rel_tol=0.01)
    assert list(t.index) == [2, 5] and "5×5 grid s" in t and "speed-up on 3×3" in t
    r = panels[5].train
    assert list(t.loc[5, "steps"]) == r.steps.tolist()       # a cap below one check interval: only a rule converges
    assert t.loc[5, "converged"] == int((r.steps < 30).sum())
    assert t.loc[5, "Jensen gap / L(0)"] == panels[5].main.jensen_gap / panels[5].zero_loss
    m = pp.fig1_measures(panels, x, y, G=5)
    p = panels[2]
    assert m["barriers"].shape == (2, 3) and m["gaps"][0] == p.gap() and m["scores"][1] == panels[5].score.max
    wide = score_vs_window(p.plane, x, y, tau_hinge, [6 * p.grid[-1] / p.plane.unit], G=5, scale="mean")[0].max
    assert m["wide"][0] == wide
    specs = pp.fig1_claims(panels)                     # sanity checks only: one triple makes no finding
    assert [(k, s["id"], s["kind"]) for k, s in specs] == [("close", "fast_equals_naive_I2", "sanity"),
                                                          ("close", "fast_equals_naive_I5", "sanity")]
    assert specs[0][1]["measured"] == panels[2].bench.max_rel_diff < 1e-5


@pytest.fixture(scope="module")
def fig4():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 784, generator=g)
    y = torch.randint(0, 10, (40,), generator=g)
    sets = {"mnist": (x[:30], y[:30], x[30:], y[30:])}
    widths = pp.fig4_widths(["mnist"], [1, 2], [1])
    panels = pp.fig4_panels(sets, widths, seed=0, steps=5, lr=0.05, G=3, margin=0.5, batch_size=10, bench_G=2,
                            branch_chunk=None, n_probe=20, bench_branches=None, n_eval=20, device=CPU)
    return sets, widths, panels


def test_fig4_panels_tables_claims_and_trends(fig4):
    sets, widths, panels = fig4
    assert list(panels) == [("mnist", 1), ("mnist", 2)]
    assert panels["mnist", 1].bench is None and panels["mnist", 2].bench is not None   # benchmarked at the widest I
    t = pp.fig4_summary(panels, steps=5, rel_tol=0.01)
    assert t.shape == (2, 14) and t.index.names == ["row", "I"]                        # 14 columns + (row, I)
    assert t.iloc[0]["converged"] == 0 or panels["mnist", 1].train.steps.min() < 5    # 5 steps: checks at 0 only
    p = panels["mnist", 2]
    assert t.iloc[1]["barrier, aligned"] == pytest.approx(p.views["aligned"].barriers.max() / p.zero_loss, rel=1e-15)
    assert t.iloc[1]["parameters"] == 2 * (784 * 8 + 8 * 10)
    b = pp.fig4_bench(panels, CPU)
    assert len(b) == 1 and b.iloc[0]["fast (points·examples/s)"] == 2**2 * p.n_eval / p.bench.fast_seconds
    specs = pp.fig4_claims(panels, sets, widths, n_probe=20, branch_chunk=None, device=CPU)
    assert [(s["id"], s.get("kind", "check")) for _, s in specs] == [
        ("mnist_fast_equals_naive", "sanity"), ("mnist_alignment_keeps_functions", "sanity"),
        ("mnist_alignment_lowers_the_barrier", "check")]
    assert specs[1][1]["measured"] < 1e-5 and specs[2][1]["description"].endswith("at every I in [1, 2]")
    assert specs[2][1]["statement"] == all(panels["mnist", I].gap("aligned") <= panels["mnist", I].gap("none")
                                           for I in (1, 2))
    tr = pp.fig4_trends(panels, widths)
    assert tr["mnist_Ilast"] == 2 and tr["mnist_none_first"] == panels["mnist", 1].gap("none")
    assert math.isnan(tr["cifar_aligned_last"]) and tr["cifar_deep_aligned_trend"] == "was not run"
    assert tr["mnist_aligned_trend"] == ("falls" if tr["mnist_aligned_last"] < tr["mnist_aligned_first"]
                                         else "does not fall")


def test_fig4_convergence_counts_each_row_s_runs_in_the_table_s_order(fig4):
    idx = pd.MultiIndex.from_tuples([("B", 1), ("B", 3), ("A", 1)], names=["row", "I"])
    t = pp.fig4_convergence(pd.DataFrame({"converged": [3, 1, 2]}, index=idx))
    assert list(t.index) == ["B", "A"] and t.converged.tolist() == [4, 2] and t.runs.tolist() == [6, 3]
    assert t.share.tolist() == [4 / 6, 2 / 3]
    _, _, panels = fig4                                        # on a real table: 3 runs per panel of the row
    s = pp.fig4_summary(panels, steps=5, rel_tol=0.01)
    c = pp.fig4_convergence(s).loc[pp.FIG4_ROWS["mnist"][0]]
    assert c.runs == 6 and c.converged == sum(int(p.converged(5, rel_tol=0.01).sum()) for p in panels.values())


def test_alignment_change_is_zero_for_aligning_and_sees_a_broken_one(monkeypatch):
    L = init_branches(3, 4, (5, 3, 2), seed=[1, 2, 3], device="cpu", dtype=torch.float64)
    x = torch.randn(30, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert symmetry.alignment_change(L, x) < 1e-12
    broken = lambda layers, x, **kw: [W * 1.5 for W in layers]             # scales every output by 1.5²
    monkeypatch.setattr(symmetry, "align_to_first", broken)
    assert symmetry.alignment_change(L, x) == pytest.approx(1.25)


def cell(I, setting, view, v, half=0.01):
    r = {"I": I, "setting": setting, "view": view, "triples": 2, "steps": 3.0}
    for k in list(sw.MEASURES) + ["score@0.5", "score@2"]:
        r.update({k: v, f"{k}_lo": v - half, f"{k}_hi": v + half})
    return r


def test_table_finiteness_readings_and_files(tmp_path):
    A, B = sw.Setting("authors"), sw.Setting("ours")
    syn = pd.DataFrame([cell(1, A.name, "none", 0.5), cell(10, A.name, "none", 0.2), cell(10, B.name, "none", 0.05),
                        cell(10, A.name, "aligned", 0.0), cell(10, B.name, "aligned", 0.0)])
    real = {"mnist": pd.DataFrame([cell(3, B.name, "none", 0.3), cell(3, B.name, "aligned", 0.1)])}
    t = sw.table(syn, [0.5, 2])
    assert t.loc[(10, A.name, "none"), "gap"] == "0.200 [0.190, 0.210]" and t.loc[(10, A.name, "none"), "acc"] == "0.200"
    assert sw.table(real, [0.5, 2]).index.names == ["row", "I", "setting", "view"]
    assert sw.measures_finite([syn, *real.values()], [0.5, 2])
    assert not sw.measures_finite([syn, real["mnist"].assign(barrier_hi=np.nan)], [0.5, 2])
    ex = sw.explain(syn, near_zero=0.1, collapse=0.5)
    words = sw.readings(ex, {"mnist": sw.explain(real["mnist"], near_zero=0.1, collapse=0.5)})
    assert words["a"] == sw.word(ex.a) and words["real"].startswith("MNIST, one hidden layer (h = 8): (a) not supported")
    assert words["flat_list"] == "I = 10: ours (rate·I, no decay)" and sw.readings(ex, {})["real"] == "no rows run"
    paths = sw.write_summaries(tmp_path, {"synthetic": syn, **real})
    assert [p.name for p in paths] == ["landscape_verdict.synthetic.csv", "landscape_verdict.mnist.csv"]
    pd.testing.assert_frame_equal(pd.read_csv(paths[1]), real["mnist"])


def triples(settings, Is=(1, 10, 100), T=3, loss=None):
    """Hand-made per-triple rows of a sweep: barrier 0.5 − 0.2·log10 I + 0.01·t (a slope of exactly −0.2 per
    decade in every triple), gap 0.1 − 0.05·log10 I + 0.02·(t − 1)·I/100 (negative for some triples), aligned
    measures halved; ``loss[setting name]``: the training loss ÷ zero loss at each I (default 0.3)."""
    out = []
    for st in settings:
        for view, f in (("none", 1.0), ("aligned", 0.5)):
            for i, I in enumerate(Is):
                for t in range(T):
                    lx = np.log10(I)
                    out.append({"setting": st.name, "view": view, "triple": t, "I": I,
                                "loss_rel": (loss or {}).get(st.name, [0.3] * len(Is))[i],
                                "barrier": f * (0.5 - 0.2 * lx + 0.01 * t),
                                "gap": f * (0.1 - 0.05 * lx + 0.02 * (t - 1) * I / 100),
                                "steps": 100.0 * (t + 1), "steps_min": 50.0 * (t + 1), "steps_max": 150.0 * (t + 1),
                                "cap": 1000, "converged": [1.0, 2 / 3, 1.0][t % 3] if I > 1 else 1 / 3})
    return pd.DataFrame(out).sample(frac=1.0, random_state=0)          # the order of the rows must not matter


def test_by_width_gives_triples_by_increasing_I():
    A = sw.Setting("authors")
    rows = triples([A])
    Is, v = sw.by_width(rows, "barrier", A.name, "none")
    assert list(Is) == [1, 10, 100] and v.shape == (3, 3)
    np.testing.assert_allclose(v, [[0.5 - 0.2 * np.log10(I) + 0.01 * t for I in (1, 10, 100)] for t in range(3)])
    _, v = sw.by_width(rows.drop(index=rows.index[(rows.triple == 2) & (rows.I == 10) & (rows.view == "none")]), "barrier", A.name, "none")
    assert np.isnan(v).sum() == 1
    with pytest.raises(ValueError, match="no rows"):
        sw.by_width(rows, "barrier", "nobody", "none")


def test_findings_endpoint_trend_gate_primary_and_judged():
    from companion.book.claims import Claims, gate_from, threshold_outcome
    from companion.core import stats

    A, B = sw.Setting("authors"), sw.Setting("ours")            # A: the authors' protocol, no decay, fixed rate
    assert A.is_primary and not B.is_primary and not sw.Setting("authors", 0.001, "times_I").is_primary
    assert (A.slug, B.slug, sw.Setting("authors", 0.001, "times_I").slug) == ("authors_wd0_fixed", "ours",
                                                                             "authors_wd0.001_timesI")
    syn = triples([A, B], loss={B.name: [0.9, 0.2, 0.2]})          # B: untrained at I = 1 only
    per = {"synthetic": syn, "mnist": triples([A]), "cifar": triples([A], Is=(3,))}
    f = sw.findings(per, {"synthetic": [A, B], "mnist": [A], "cifar": [A]}, seed=5, confidence=0.9)
    ids = [d["id"] for d in f]
    assert ids[:4] == ["fig1_endpoint_barrier_authors_wd0_fixed", "fig1_trend_barrier_authors_wd0_fixed",
                       "fig1_endpoint_gap_authors_wd0_fixed", "fig1_trend_gap_authors_wd0_fixed"]
    assert len(ids) == len(set(ids)) == 2 * 2 * 2 * 2 + 2 * 2 * 2 + 2 * 2      # cifar: one width, no trend
    assert "fig4_mnist_trend_gap_authors_wd0_fixed_aligned" in ids and not any(i.startswith("fig4_cifar_trend") for i in ids)
    d = {x["id"]: x for x in f}
    top = 0.5 - 0.4 + 0.01 * np.arange(3)                         # the barriers at I = 100
    e = d["fig1_endpoint_barrier_authors_wd0_fixed"]
    m, lo, hi = stats.bootstrap_mean_interval(top, confidence=0.9, seed=seeds.spawn(
        5, "landscape_verdict", "bootstrap", "synthetic", A.slug, "none"))
    assert (e["estimate"], e["low"], e["high"]) == pytest.approx((m, lo, hi)) and e["low"] >= 0
    assert (e["statement"], e["side"], e["replicates"], e["gate"], e["primary"]) == ("P1.fig1:endpoint", "below", 3,
                                                                                 pytest.approx(0.3), True)
    g = d["fig1_endpoint_gap_authors_wd0_fixed_aligned"]
    gm, glo, ghi = stats.mean_interval(0.5 * (0.1 - 0.1 + 0.02 * (np.arange(3) - 1)), 0.9)
    assert (g["estimate"], g["low"], g["high"]) == pytest.approx((gm, glo, ghi)) and g["low"] < 0   # a gap can be < 0
    t = d["fig1_trend_barrier_authors_wd0_fixed"]
    assert (t["estimate"], t["low"], t["high"], t["replicates"]) == pytest.approx((-0.2, -0.2, -0.2, 3))
    assert d["fig1_trend_barrier_ours_aligned"]["estimate"] == pytest.approx(-0.1)
    tg = d["fig1_trend_gap_ours"]
    lx = np.log10([1, 10, 100])
    ref = stats.log_slope([1, 10, 100], [[0.1 - 0.05 * l + 0.02 * (k - 1) * I / 100 for l, I in zip(lx, (1, 10, 100))]
                                         for k in range(3)], confidence=0.9)
    assert (tg["estimate"], tg["low"], tg["high"], tg["replicates"]) == pytest.approx(ref)
    assert d["fig1_trend_gap_ours"]["gate"] == 0.9 and d["fig1_endpoint_gap_ours"]["gate"] == pytest.approx(0.2)
    assert all(x["votes"] == (not x["id"].endswith("_aligned")) for x in f)      # aligned: our view, never votes
    prim = [x["id"] for x in f if x["primary"]]
    assert prim == ["fig1_endpoint_barrier_authors_wd0_fixed", "fig1_trend_barrier_authors_wd0_fixed",
                    "fig4_mnist_endpoint_barrier_authors_wd0_fixed", "fig4_mnist_trend_barrier_authors_wd0_fixed"]
    assert d["fig4_cifar_endpoint_barrier_authors_wd0_fixed"]["statement"] == "P1.fig4:endpoint"
    assert e["converged"] == pytest.approx(8 / 9)                  # the runs at I = 100: 3, 2 and 3 of 3
    assert e["steps"] == {"mean": 200.0, "min": 50.0, "max": 450.0, "cap": 1000.0}
    assert t["converged"] == pytest.approx((1 / 3 + 8 / 9 + 8 / 9) / 3)  # every width's runs: I = 1 converged 1 of 3

    c = Claims("landscape_verdict", "smoke", "cpu", 0, "unused.json")
    for x in f:                                                       # as the chapter records them
        c.judge(**{**x, "gate": gate_from(x["statement"], x["gate"])})
    r = {x.id: x for x in c.findings()}
    assert r["fig1_trend_barrier_authors_wd0_fixed"].outcome == "reproduced"       # −0.2 below 0 and the whole band
    assert not r["fig1_trend_barrier_authors_wd0_fixed"].fragile
    assert r["fig1_trend_barrier_ours"].gate == "untrained" and r["fig1_trend_barrier_ours"].outcome == "inconclusive"
    assert r["fig1_trend_barrier_ours"].outcome_if_trained == "reproduced"
    assert r["fig1_endpoint_barrier_ours"].gate == "trained"                      # trained at the widest I
    assert r["fig1_endpoint_barrier_authors_wd0_fixed"].outcome == threshold_outcome(lo, hi, 0.1, "below")
    assert r["fig1_endpoint_barrier_authors_wd0_fixed"].converged == pytest.approx(8 / 9)
    assert r["fig1_trend_gap_ours"].steps["max"] == 450.0
    grid = sw.findings_grid(c.findings())
    assert grid.loc[("synthetic", "authors_wd0_fixed", "trend", "barrier"), "as trained"] == \
        "-0.200 [-0.200, -0.200] reproduced"
    assert grid.loc[("synthetic", "ours", "trend", "barrier"), "as trained"].endswith("untrained")
    assert grid.loc[("cifar", "authors_wd0_fixed", "endpoint", "gap"), "converged"] == "89%"
    assert len(grid) == len(f) // 2                                  # one line per (row, setting, part, measure)
    conv = sw.convergence_table(per, gate=0.5)
    q = conv.set_index(["row", "setting"]).loc[("synthetic", B.name)]
    assert (q["widths"], q["trained widths"]) == (3, 2) and q.converged_trained == pytest.approx(8 / 9)
    assert q.converged == pytest.approx(19 / 27) and q["steps max"] == 450.0 and q.cap == 1000.0
    g = {x["id"]: x for x in sw.findings(per, {"synthetic": [A, B], "mnist": [A], "cifar": [A]}, seed=5,
                                          confidence=0.9, trained_at=0.5)}
    tb = g["fig1_trend_barrier_ours"]                                 # B trained at I = 10, 100 only: slope over those
    assert tb["gate"] == pytest.approx(0.2) and "I = 10, 100 (the widths where it trained)" in tb["description"]
    assert tb["estimate"] == pytest.approx(-0.2) and tb["converged"] == pytest.approx(8 / 9)
    assert g["fig1_trend_barrier_authors_wd0_fixed"] == d["fig1_trend_barrier_authors_wd0_fixed"]   # trained at all
    assert np.isnan(sw.convergence_table({"mnist": triples([A], loss={A.name: [0.9] * 3})}, gate=0.5)
                    .converged_trained.iloc[0])                        # trained at no width: cannot train
    w = sw.primary_words(c.findings())
    assert w["fig1_trend_outcome"] == "reproduced" and w["fig1_trend_est"] == pytest.approx(-0.2)
    assert w["fig1_trend_gate"] == "trained (0.30)" and w["fig1_endpoint_lo"] == pytest.approx(lo)
    assert w["fig1_trend_tally"].endswith(f"of {sum(x.statement == 'P1.fig1:trend' and x.gate == 'trained' for x in c.findings())} trained")
    assert np.isnan(sw.primary_words([])["fig4_trend_est"]) and sw.primary_words([])["fig4_trend_outcome"] == "not run"


def test_sweep_rows_equals_the_sweep_of_each_row():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(30, 784, generator=g), torch.randint(0, 10, (30,), generator=g)
    tr = sw.Training(lr=0.05, batch_size=10, steps=4, check_every=2, steps_ours=4, batch_size_ours=10)
    kw = dict(settings=[sw.Setting("ours")], T=2, seed=0, training=tr, views=("none",), radii=[1.0], G=3,
              K=3, n_probe=10, n_window=None, device=CPU)
    summaries, per_triple, drift, secs, runs = sw.sweep_rows({"mnist": (x, y)}, ["mnist"], confidence=0.9,
                                                             Is={"mnist": [1, 2]}, **kw)
    rows, _, runs1 = sw.sweep(x, y, multiclass_hinge, Is=[1, 2], widths=(784, 8, 10), **kw)
    pd.testing.assert_frame_equal(summaries["mnist"], sw.summarise(rows, 0.9))
    pd.testing.assert_frame_equal(per_triple["mnist"], rows)
    pd.testing.assert_frame_equal(runs["mnist"], runs1)
    assert len(runs1) == 2 * 3 * 2 and set(runs1.steps) <= {4}                    # I × runs of T triples; cap 4
    assert drift == float(rows.loss_drift.max()) and secs["train"] > 0
    assert sw.sweep_rows({}, [], confidence=0.9, Is={}, **kw) == ({}, {}, -np.inf, {"train": 0.0, "measure": 0.0}, {})
    with pytest.raises(ValueError, match="no widths"):
        sw.sweep_rows({"mnist": (x, y)}, ["mnist"], confidence=0.9, Is={}, **kw)
    # one Training per row: the row runs under its own cap, and a row without one is refused
    own = {**kw, "training": {"mnist": sw.Training(lr=0.05, batch_size=10, steps=6, check_every=2, steps_ours=6,
                                                   batch_size_ours=10)}}
    _, per_row, _, _, runs6 = sw.sweep_rows({"mnist": (x, y)}, ["mnist"], confidence=0.9, Is={"mnist": [1, 2]}, **own)
    assert set(runs6["mnist"].cap) == {6} and set(per_row["mnist"].cap) == {6}
    with pytest.raises(ValueError, match="no training"):
        sw.sweep_rows({"mnist": (x, y)}, ["mnist"], confidence=0.9, Is={"mnist": [1]}, **{**kw, "training": {}})


def test_figures_draw_every_panel(fig1, fig4):
    from companion.landscapes import figures

    assert len(figures.fig1_planes(fig1[2]).axes) == 2 + 1                        # two panels and the colour bar
    _, widths, panels = fig4
    assert len(figures.fig4_planes(panels, widths, "aligned").axes) == 2
    s = pd.DataFrame([cell(1, "ours (rate·I, no decay)", v, 0.2) for v in ("none", "aligned")]
                     + [cell(4, "ours (rate·I, no decay)", v, 0.1) for v in ("none", "aligned")])
    figs = figures.sweep_curves({"a": s, "b": s}, [sw.Setting("ours")], near_zero=0.1, collapse=0.5)
    assert len(figs) == 2 and all(len(f.axes) == 4 for f in figs)
    ax = figures.score_by_window(s, [sw.Setting("ours")], [0.5, 2]).axes[0]
    assert ax.get_title() == "I = 4" and list(ax.lines[0].get_ydata()) == [0.1, 0.1]


def test_verdict_figure_one_column_per_row_grey_where_untrained():
    from companion.landscapes import figures

    A, B = sw.Setting("authors"), sw.Setting("ours")
    rows = [{**cell(I, st.name, v, 0.2), "loss_rel": loss} for I in (1, 10) for v in ("none", "aligned")
            for st, loss in ((A, 0.9), (B, 0.3 if I == 1 else 0.8))]              # A never trains; B at I = 1 only
    s = pd.DataFrame(rows)
    fig = figures.verdict_figure({"synthetic": s, "cifar_deep": s}, [A, B], gate=0.5, near_zero=0.1)
    axes = fig.axes
    assert len(axes) == 4 and axes[0].get_xscale() == "log"
    assert "50,000" in axes[1].get_title() and "Fig 1" in axes[0].get_title()   # P1's widest deep I, beyond the run
    curves = [l for l in axes[0].lines if l.get_linestyle() in ("-", "--") and l.get_color() != "0.8"]  # not y = 0
    assert [l.get_color() for l in curves] == ["0.6", "0.6", "C1", "C1"]          # A grey (never trained), B coloured
    grey_pts = [l for l in axes[0].lines if l.get_marker() == "o" and l.get_color() == "0.6" and l.get_mfc() == "white"]
    assert sum(len(l.get_xdata()) for l in grey_pts) == 2 + 2 + 1 + 1             # untrained points: A 2+2, B 1+1
