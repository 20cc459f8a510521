"""The landscape pipeline: a panel trains, spans, evaluates and scores; accuracy."""

import numpy as np
import pytest
import torch

from companion.core.data import synthetic_teacher
from companion.training.losses import multiclass_hinge, tau_hinge
from companion.training.nets import flatten, forward, init_branches, n_parameters
from companion.training.train import batch_indices, init_padded, train_sequential, train_sgd


def test_landscape_panel_and_accuracy():
    from companion.landscapes.pipeline import PanelConfig, accuracy, landscape_panel

    ds = synthetic_teacher(n=150, d=4, hidden=3, seed=2)
    p = landscape_panel(ds.x, ds.y, tau_hinge, PanelConfig(I=6, widths=(4, 1, 1), seeds=(1, 2, 3), steps=100, lr=1.0,
                                                           G=5, bench_G=3, device="cpu", dtype=torch.float64))
    assert p.surface.shape == (5, 5) and p.plane.points.shape == (3, 2) and p.bench.max_rel_diff < 1e-10
    assert np.all((0 <= p.accuracy_train) & (p.accuracy_train <= 1)) and np.isnan(p.accuracy_test).all()
    # accuracy: sign for one output, argmax for several
    L = init_branches(2, 3, (4, 1, 3), seed=0, device="cpu", dtype=torch.float64)
    x = torch.randn(20, 4, dtype=torch.float64)
    f = forward(L, x)
    y = f[0].argmax(-1)
    acc = accuracy(L, x, y)
    assert acc[0] == 1.0 and acc[1] == pytest.approx(float((f[1].argmax(-1) == y).double().mean()))
    with pytest.raises(ValueError, match="3 seeds"):
        PanelConfig(I=2, widths=(4, 1, 1), seeds=(1, 2), steps=1, lr=1.0, G=3, device="cpu")


def test_aligned_view_in_place_restores_the_solutions_and_planes_can_be_dropped():
    """The aligned view relabels the trained solutions in place and undoes it exactly; dropping the planes'
    weights changes no number; the aligned surface equals the one through an aligned copy."""
    from companion.landscapes.pipeline import PanelConfig, landscape_panel, plane_view
    from companion.landscapes.symmetry import align_to_first

    ds = synthetic_teacher(n=120, d=4, hidden=3, seed=5)
    base = dict(I=5, widths=(4, 3, 2, 1), seeds=(4, 5, 6), steps=30, lr=1.0, G=5, batch_size=40, scale="mean",
                parametrization="mean", branch_chunk=2, device="cpu", dtype=torch.float64)
    only_none = landscape_panel(ds.x, ds.y, tau_hinge, PanelConfig(**base))
    both = landscape_panel(ds.x, ds.y, tau_hinge, PanelConfig(views=("none", "aligned"), keep_planes=False, bench_G=3,
                                                              **base))
    assert all(torch.equal(W, V) for W, V in zip(only_none.train.layers, both.train.layers))   # restored exactly
    np.testing.assert_array_equal(both.views["none"].surface, only_none.surface)
    np.testing.assert_array_equal(both.views["none"].points, only_none.plane.points)
    assert both.plane is None and both.views["aligned"].plane is None and both.bench.max_rel_diff < 1e-10
    copy = align_to_first(only_none.train.layers, ds.x[:500], branch_chunk=2)
    ref = plane_view(copy, "none", ds.x, ds.y, tau_hinge, G=5, scale="mean", branch_chunk=2)
    np.testing.assert_array_equal(both.views["aligned"].surface, ref.surface)
    assert both.views["aligned"].jensen_gap == ref.jensen_gap


def test_panel_config_refuses_bad_settings():
    from companion.landscapes.pipeline import PanelConfig

    ok = dict(I=2, widths=(4, 1, 1), seeds=(1, 2, 3), steps=1, lr=1.0, G=3)
    for bad, msg in ((dict(views=("sideways",)), "unknown views"), (dict(scale="max"), "unknown scale"),
                     (dict(G=1), "G must be"), (dict(branch_chunk=0), "branch_chunk must be"),
                     (dict(widths=(4,)), "widths must be")):
        with pytest.raises(ValueError, match=msg):
            PanelConfig(**{**ok, **bad})
    assert PanelConfig(**{**ok, "views": ["none", "aligned"]}).views == ("none", "aligned")


def test_profile_stages_and_scaling_fit():
    """A tiny profile: every stage of the panel timed at each I, and lines through ≥ 3 widths."""
    from companion.landscapes.profile import fit_scaling, profile_stages

    t = profile_stages([2, 4, 6], widths=(6, 3, 3, 2), n_train=60, n_eval=30, n_probe=20, steps=3, batch_size=16,
                       G=3, K=3, branch_chunk=4)
    stages = {"init", "train", "align", "plane", "evaluate", "measures", "accuracy", "total"}
    assert set(t["stage"]) == stages and len(t) == 3 * len(stages)
    assert (t["seconds"] > 0).all() and (t["peak_gib"] > 0).all()
    tot = t[t["stage"] == "total"].set_index("I")["seconds"]
    parts = t[t["stage"] != "total"].groupby("I")["seconds"].sum()
    assert (parts <= tot + 1e-9).all()                                    # the stages fit inside the total
    fit = fit_scaling(t, target_I=100)
    assert set(fit["stage"]) == stages
    # a line through exactly linear data is found exactly
    lin = t.assign(seconds=1.0 + 0.5 * t["I"], peak_gib=2.0 + 0.25 * t["I"])
    f = fit_scaling(lin, target_I=10).set_index("stage")
    assert f.loc["train", "seconds_at_target"] == pytest.approx(6.0) and f.loc["train", "peak_gib_at_target"] == pytest.approx(4.5)
    assert f.loc["train", "s_per_1000_branches"] == pytest.approx(500.0) and f["max_rel_residual"].max() < 1e-9
    with pytest.raises(ValueError, match="at least 3 distinct I"):
        fit_scaling(t[t["I"] < 6])


def test_the_recorded_paper_scale_profile():
    """The measured table behind the README's "Paper scale": every stage at every recorded I, consistent totals,
    and the extrapolation to I = 50,000 the README quotes."""
    from companion.landscapes.profile import fit_scaling, recorded_profile

    t = recorded_profile()
    assert list(t.columns) == ["I", "stage", "seconds", "peak_gib"]
    stages = {"init", "train", "align", "plane", "evaluate", "measures", "accuracy", "total"}
    Is = sorted(t["I"].unique())
    assert len(Is) >= 4 and Is[0] <= 1000 and Is[-1] >= 25_000
    for I, part in t.groupby("I"):
        assert set(part["stage"]) == stages and len(part) == len(stages)
        total = part.set_index("stage").loc["total"]
        assert total["peak_gib"] == part["peak_gib"].max()
        assert part.loc[part["stage"] != "total", "seconds"].sum() <= total["seconds"] + 0.05     # rounded to 0.01 s
    fit = fit_scaling(t).set_index("stage")
    assert 30 < fit.loc["total", "peak_gib_at_target"] < 40 and fit.loc["total", "max_rel_residual"] < 0.25
