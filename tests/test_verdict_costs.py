"""The landscape verdict's cost model (issue 27): one training stage per batch of ``verdict.blocks`` at its own step
cap (the fixed rate's grows with I, and it is priced only at its widths), a recorded share of the cap where there is
one, and the block's dual first layer on the Figure 4 rows."""

from __future__ import annotations

import pytest

from companion.book import costs
from companion.book.chapters import get_chapter, resolve_parameters
from companion.landscapes import verdict as sw


def _training(stages):
    return {w.stage: w for w in stages if w.stage.endswith(" training")}


def test_each_batch_is_priced_at_its_own_cap_and_widths(monkeypatch):
    monkeypatch.setattr(costs, "VERDICT_STEP_SHARE", {})
    p = resolve_parameters(get_chapter("landscape_verdict"), "cpu")
    st = _training(costs.landscape_verdict(p, "cpu"))
    k, steps = p["steps_fixed_per_I"], p["steps"]
    fixed, both = "authors_wd0_fixed", "authors_wd0_fixed+authors_wd0_timesI"
    for I in p["Is"]:
        names = [s for s in st if s.startswith(f"synthetic I={I}: ")]
        cap = max(steps, k * I)
        if I not in p["Is_fixed"]:
            assert not any("fixed" in s for s in names)                      # not run there, not priced there
        elif cap == steps:
            assert st[f"synthetic I={I}: {both} training"].probed["sgd_step"] == steps
        else:
            assert st[f"synthetic I={I}: {fixed} training"].probed["sgd_step"] == cap
        if cap != steps or I not in p["Is_fixed"]:
            assert st[f"synthetic I={I}: authors_wd0_timesI training"].probed["sgd_step"] == steps
        assert st[f"synthetic I={I}: ours training"].probed["sgd_step"] == p["steps_ours"]
    assert all(w.bound for w in st.values())                                 # no record: the caps, upper bounds


def test_a_recorded_share_scales_the_batch_and_other_caps_ignore_it(monkeypatch):
    p = resolve_parameters(get_chapter("landscape_verdict"), "cpu")
    cap = max(p["steps"], p["steps_fixed_per_I"] * 30)
    monkeypatch.setattr(costs, "VERDICT_STEP_SHARE", {("synthetic", 30, "authors_wd0_fixed"): (cap, 0.25, 0.1)})
    full = {("synthetic", 30, "authors_wd0_fixed"): (cap, 1.0, 1.0)}
    w = _training(costs.landscape_verdict(p, "cpu"))["synthetic I=30: authors_wd0_fixed training"]
    assert w.probed["sgd_step"] == pytest.approx(0.25 * cap) and not w.bound
    monkeypatch.setattr(costs, "VERDICT_STEP_SHARE", full)
    ref = _training(costs.landscape_verdict(p, "cpu"))["synthetic I=30: authors_wd0_fixed training"]
    assert (w.flops, w.bytes, w.ops) == pytest.approx((0.1 * ref.flops, 0.1 * ref.bytes, 0.25 * ref.ops))   # work, loop
    other = _training(costs.landscape_verdict({**p, "steps_fixed_per_I": p["steps_fixed_per_I"] + 1}, "cpu"))
    assert other["synthetic I=30: authors_wd0_fixed training"].bound                  # another cap: no record
    at = dict(T=p["T"], n=p["n"], batch_size=p["batch_size"])
    assert costs.verdict_step_share("synthetic", 30, "authors_wd0_fixed", cap, **at) == (1.0, 1.0)
    assert costs.verdict_step_share("synthetic", 30, "authors_wd0_fixed", cap + 1, **at) is None
    for change in ({"T": p["T"] + 1}, {"n": p["n"] // 2}, {"batch_size": 50}):    # recorded at other values: none
        assert costs.verdict_step_share("synthetic", 30, "authors_wd0_fixed", cap, **{**at, **change}) is None
    fewer = _training(costs.landscape_verdict({**p, "T": p["T"] + 1}, "cpu"))
    assert fewer["synthetic I=30: authors_wd0_fixed training"].bound


def test_the_dual_first_layer_replaces_the_primal_flops():
    kw = dict(S=6, I=3, widths=(785, 9, 10), steps=40, batch=50, n=500, check_every=10)
    primal = costs.sgd("x", **kw)
    dual = costs._verdict_training("x", share=None, fixed=1, **kw)             # n ≤ 1.5·d: the block takes the dual
    assert primal.flops - dual.flops == pytest.approx(4.0 * 3 * 785 * 9 * 50 * 6 * 40 - 2.0 * 3 * 8 * 500 * 50 * 6 * 40)
    wide = dict(kw, widths=(11, 2, 1), n=1000)                                     # n > 1.5·d: primal, as sgd prices it
    assert costs._verdict_training("x", share=None, **wide).flops == costs.sgd("x", **wide).flops


def test_the_blocks_the_model_prices_are_the_sweep_s_configurations():
    import torch

    from companion.core.data import synthetic_teacher
    from companion.training.losses import tau_hinge

    ds = synthetic_teacher(n=40, d=3, hidden=2, seed=0)
    tr = sw.Training(steps=30, steps_ours=20, steps_fixed_per_I=20, Is_fixed=[1, 3])
    settings = sw.settings_grid([0.0], ["fixed", "times_I"])
    configs = sw.sweep_configs(ds.x, ds.y, tau_hinge, Is=[1, 3, 5], widths=(3, 2, 1), settings=settings, T=2, seed=0,
                               training=tr, views=("none",), radii=[1.0], G=3, K=3, n_probe=10, n_window=None,
                               device="cpu", dtype=torch.float32)
    priced = [w.stage for w in costs.verdict_sweep("r", Is=[1, 3, 5], widths=(3, 2, 1), settings=settings, training=tr,
                                                   T=2, n=40, radii=[1.0], G=3, K=3, n_window=40, n_probe=10,
                                                   device="cpu") if w.stage.endswith(" training")]
    assert priced == [f"r I={c['I']}: {'+'.join(sw.Setting(**s).slug for s in c['settings'])} training" for c in configs]
    assert len(configs) == 2 + 3 + 2                                 # I = 1: one authors' batch; 3: two; 5: no fixed
    assert {c["threads"] for c in configs} == {torch.get_num_threads()}
    one = sw.sweep_configs(ds.x, ds.y, tau_hinge, Is=[1], widths=(3, 2, 1), settings=settings, T=2, seed=0, training=tr,
                           views=("none",), radii=[1.0], G=3, K=3, n_probe=10, n_window=None, device="cpu",
                           dtype=torch.float32, threads=1)
    assert {c["threads"] for c in one} == {1}                       # a given thread count: every configuration's


def test_the_cpu_preset_s_batches_are_all_recorded():
    p = resolve_parameters(get_chapter("landscape_verdict"), "cpu")
    st = _training(costs.landscape_verdict(p, "cpu"))
    assert st and not any(w.bound for w in st.values())                   # every batch at cpu has its record
    assert all(0 < work <= loop <= 1 for _, loop, work in costs.VERDICT_STEP_SHARE.values())
