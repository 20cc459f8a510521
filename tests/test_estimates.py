"""The estimates' recorded counts and chapter-shaped probes (issue 26 item 5): L-BFGS shares recorded from a run
feed the cost model and round-trip through their key, the block probe times the chapter's own block call and
recovers its two cost parts from synthetic timings, and Theorem 1's DP cell count equals the cells the DP
itself convolves."""

from __future__ import annotations

import pytest
import torch

from companion.book import costs, plan, probes
from companion.book.chapters import get_chapter, resolve_parameters


def test_recorded_lbfgs_shares_round_trip_into_the_parallel_linear_model(monkeypatch):
    p = resolve_parameters(get_chapter("parallel_linear"), "cpu")
    budgets = costs.parallel_linear_budgets(p)
    (mi, bi), (mr, br) = budgets["interpolation"], budgets["regularised"]
    calls = [(mi, 30, 40), (mi, 10, 12), (mr, 500, 600), (mr, 0, 1), (7, 99, 99)]   # (max_iter, iterations, evals)
    shares = costs.lbfgs_shares(calls, budgets)
    assert shares["interpolation"] == pytest.approx((40 / bi, 52 / 40))
    assert shares["regularised"] == pytest.approx((500 / br, 601 / 500))
    monkeypatch.setitem(costs.LBFGS_RECORD, "parallel_linear", {costs.record_key("parallel_linear", p): shares})
    st = costs.parallel_linear(p, "cpu")
    runs = [w for w in st if w.stage.startswith("interpolation")]
    assert sum(w.probed["lbfgs_iter"] for w in runs) == pytest.approx(40)
    assert sum(w.probed["lbfgs_iter"] for w in st if w.stage.startswith("regularised")) == pytest.approx(500)
    assert not any(w.bound for w in runs)
    # the evaluations per iteration scale the arithmetic: FLOPs = iterations × evals/iteration × FLOPs/evaluation
    w = runs[0]
    assert w.flops == pytest.approx(w.probed["lbfgs_iter"] * 52 / 40 * p["restarts"] * 2 * 6.0 * 27)
    # other parameters are not the record's: the budget, an upper bound
    other = costs.parallel_linear({**p, "inner": p["inner"] + 1}, "cpu")
    assert all(w.bound for w in other if w.stage.startswith("interpolation"))
    assert sum(w.probed["lbfgs_iter"] for w in other if w.stage.startswith("interpolation")) == \
        pytest.approx(costs.parallel_linear_budgets({**p, "inner": p["inner"] + 1})["interpolation"][1])
    with pytest.raises(ValueError, match="regularised"):
        costs.lbfgs_shares([(mi, 1, 1)], budgets)


def test_the_record_of_the_cpu_preset_is_used_and_below_the_budget():
    p = resolve_parameters(get_chapter("parallel_linear"), "cpu")
    rec = {k: costs.lbfgs_record("parallel_linear", p, k) for k in ("interpolation", "regularised")}
    assert all(r is not None and 0 < r[0] <= 1 and r[1] >= 1 for r in rec.values())


def test_the_block_probe_times_the_chapter_s_own_block_call(monkeypatch):
    """The probe runs ``hitting.run_block`` on a ``block_configs`` configuration (the chapter's call: its data,
    threads, engine); with a block whose training takes cap · (lanes·a + F(padded units)·b) — every lane of every
    SIMD group of 16, at its group's widest width, counted here by brute force — it recovers a and b."""
    from types import SimpleNamespace

    from companion.training import block as blk
    from companion.training import hitting
    from companion.training.onehidden import matmul_flops

    monkeypatch.setattr(blk, "available", lambda: True)
    monkeypatch.setattr(blk, "lanes", lambda dtype: 16)
    a, b = 2e-7, 3e-12
    S, widths, seen = 7, (10, 12, 13), []

    def fake_run_block(config):
        seen.append(config)
        (_, pd, s), = config["rows"]
        per = sorted(w for w in config["widths"] for _ in range(s))
        G = -(-len(per) // 16)
        lanes, units = 16 * G, 16 * sum(per[min((g + 1) * 16, len(per)) - 1] for g in range(G))
        return SimpleNamespace(seconds=pd["steps"] * (lanes * a + matmul_flops(units, pd["d"], pd["batch_size"]) * b))

    monkeypatch.setattr(hitting, "run_block", fake_run_block)
    got = probes.block(S=S, widths=widths)
    assert got["block_net_step"] == pytest.approx(a) and got["block_flop"] == pytest.approx(b)
    chapter = hitting.block_configs({"probe": (hitting.Protocol(batch_size=10, steps=500, rule="cuts"), S)}, widths)
    assert seen[0] == chapter[0] and seen[0]["kind"] == "hitting_rate.block" and seen[0]["threads"] is None
    assert {cfg["rows"][0][1]["batch_size"] for cfg in seen} == {10, 100}


def test_theorem1_dp_cells_are_the_cells_the_dp_convolves(monkeypatch):
    from companion.convexity import separable as sp

    cells = []
    real = sp.min_plus_convolve

    def counting(G, g, **kw):
        cells.append((G.numel() + g.numel() - 1) * g.numel())
        return real(G, g, **kw)

    monkeypatch.setattr(sp, "min_plus_convolve", counting)
    U, Ks, I_max, t = [8, 5, 11], [0.25, 1.0], 9, 0.1
    phis = [torch.linspace(1.0, 0.0, u + 1, dtype=torch.float64).numpy() for u in U]
    sp.primal_table_from_phis(phis, Ks, I_max, t)
    keep = lambda I: int(I * max(Ks) / t + 1e-9) + 1         # noqa: E731
    assert costs.minplus_cells(U, I_max, keep) == sum(cells)
    cells.clear()
    sp.minkowski_staircase(sp.chapter_branches(*_data(), 1.05)[1][0], [1, 4], 0.5)
    assert costs.minplus_cells([int(2.0**2 / 0.5 + 1e-9)], 4) == sum(cells)


def _data():
    from companion.core.data import synthetic_teacher

    ds = synthetic_teacher(n=20, d=2, hidden=11, seed=0)
    return ds.x.numpy(), ds.y.numpy()


def test_new_probes_are_in_the_calibration():
    for name in ("minplus_cell", "dual_call", "dual_elem"):
        assert name in probes.PROBES
    w = next(s for s in plan.chapter_stages("theorem1", resolve_parameters(get_chapter("theorem1"), "cpu"), "cpu")
             if s.stage == "duals")
    assert set(w.probed) == {"dual_call", "dual_elem"}


def test_the_dual_probe_times_the_chapter_s_lagrangian_min_and_splits_call_and_element_costs(monkeypatch):
    from companion.convexity import separable as sp

    sizes = []
    real = sp.Branch.lagrangian_min

    def counting(self, lam):
        sizes.append(len(self.z))
        return real(self, lam)

    monkeypatch.setattr(sp.Branch, "lagrangian_min", counting)
    a, b = 4e-5, 3e-8

    def fake_best_of(fn, repeats):
        sizes.clear()
        fn()
        return sum(a + b * n * (n + 3) for n in sizes)

    monkeypatch.setattr(probes, "best_of", fake_best_of)
    got = probes.dual_eval(sizes=(30, 60), calls=5)
    assert got["dual_call"] == pytest.approx(a) and got["dual_elem"] == pytest.approx(b)


def _blocks_with_steps(monkeypatch, configs):
    """Run ``configs`` by ``hitting.run_block``, keeping each block's per-network steps and counting, directly in the
    compiled engine, what it computes: per kernel call and SIMD group, L lanes × its longest lane's steps (× its
    width for units), from the engine's own packing."""
    from companion.training import block as blk
    from companion.training import hitting

    direct, steps = {"lane": 0.0, "unit": 0.0}, []
    real_run, real_train = blk._Compiled.run, hitting.train_block

    def counting(self, t0, ids, idx, lr):
        real_run(self, t0, ids, idx, lr)
        if not len(ids):
            return
        p, st, L = self._layout, self.st, self.L
        q = p["q"]
        stop, cap = st.stopped_at[q], st.caps[q]
        end = torch.where(stop > t0, stop, torch.clamp(cap, max=t0 + len(idx)))
        run = torch.zeros(p["G"] * L, dtype=torch.int64)
        run[:len(q)] = end - t0
        g = run.view(p["G"], L).max(1).values
        direct["lane"] += float(L * g.sum())
        direct["unit"] += float(L * (g * p["width"]).sum())

    def keeping(*a, **k):
        r = real_train(*a, **k)
        steps.append(r.steps.cpu().numpy())
        return r

    monkeypatch.setattr(blk._Compiled, "run", counting)
    monkeypatch.setattr(hitting, "train_block", keeping)
    for c in configs:
        hitting.run_block(c)
    return direct, steps


def test_lane_group_steps_are_what_the_compiled_kernel_computes(monkeypatch):
    """Networks that stop at different steps: the simulation from their steps alone equals the kernel's own groups
    counted call by call, and it exceeds the networks' steps (a group runs until its slowest lane stops)."""
    import numpy as np

    from companion.training import block as blk
    from companion.training import hitting

    if not blk.available():
        pytest.skip("the block kernel does not compile here")
    P = hitting.Protocol(n=200, d=5, teacher_hidden=4, batch_size=20, steps=1000, check_every=50)
    rows = {"rule": (P, 7), "fast": (P.vary(lr=0.5), 5), "fixed": (P.vary(rule="none"), 3)}
    configs = hitting.block_configs(rows, [3, 5, 9], threads=1)
    assert len(configs) == 1
    direct, (steps,) = _blocks_with_steps(monkeypatch, configs)
    widths = [w for _, _, S in configs[0]["rows"] for w in configs[0]["widths"] for _ in range(S)]
    L = blk.lanes(torch.float32)
    lane, unit = costs.lane_group_steps(steps, widths, L, P.check_every)
    assert lane.sum() == pytest.approx(direct["lane"], rel=1e-12) and unit.sum() == pytest.approx(direct["unit"], rel=1e-12)
    assert len(set(steps.tolist())) > 3 and lane.sum() > steps.sum()              # not a vacuous case
    rec = costs.hitting_lane_record([(configs[0], steps)], L)
    nets = 7 * 3
    assert rec["rule"][0] == 1000 and rec["rule"][1] == pytest.approx(steps[:nets].sum() / (nets * 1000), abs=1e-6)
    assert rec["rule"][2] == pytest.approx(lane[:nets].sum() / (nets * 1000), abs=1e-6)
    assert rec["rule"][3] == pytest.approx(unit[:nets].sum() / (7 * 17 * 1000), abs=1e-6)
    # every network to the same cap: groups of L by width, each at its widest; the padding lanes count
    lane, unit = costs.lane_group_steps([10] * 20, [4] * 9 + [6] * 11, 16, 5)
    assert lane.sum() == 2 * 16 * 10 and unit.sum() == 16 * 10 * (6 + 6)
    assert np.allclose(lane, [10.0] * 16 + [40.0] * 4)                          # the last group: 4 share 16 lanes


def test_hitting_rate_counts_the_recorded_lane_steps_not_the_cap():
    p = resolve_parameters(get_chapter("hitting_rate"), "cpu")
    st = plan.chapter_stages("hitting_rate", p, "cpu")
    head = next(w for w in st if w.stage == "headline")
    share = costs.lane_share("headline", p["protocol"]["steps"])
    assert share is not None and 0 < share[0] < 1 and 0 < share[1] < 1 and not head.bound
    rec = costs.HITTING_LANE_SHARE["headline"]
    assert rec[2] >= rec[1]                           # a group runs as long as its slowest network
    nets = p["S"] * len(p["widths"])
    assert head.probed["block_net_step"] == pytest.approx(nets * p["protocol"]["steps"] * share[0])
    assert head.probed["block_flop"] == pytest.approx(head.flops * share[1])
    q = {**p, "protocol": {**p["protocol"], "steps": 1234}}               # no record at that cap: the cap
    other = next(w for w in plan.chapter_stages("hitting_rate", q, "cpu") if w.stage == "headline")
    assert other.bound and other.probed["block_flop"] == pytest.approx(other.flops)


def test_figure_cells_are_counted_from_the_notebook():
    import jupytext

    from companion.book.chapters import chapter_names

    for name in chapter_names():
        nb = jupytext.read(get_chapter(name).source)
        cells = [c for c in nb.cells if c.cell_type == "code" and "figure" in c.metadata.get("mystnb", {})]
        assert plan.notebook_figures(name) == len(cells) > 0, name
        page = plan.chapter_stages(name, resolve_parameters(get_chapter(name), "smoke"), "cpu")[-1]
        assert page.probed["figure"] == len(cells) and page.host


def test_shapley_folkman_vertices_are_the_polygons_it_fills(monkeypatch):
    """The vertex count of the chapter's Figure 3 and slider frames equals the vertices the chapter's own
    functions hand to ``fill`` (counted by wrapping it), on a small study."""
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    from companion.convexity import shapley_folkman as sf
    from companion.core.plotting import subplots
    from companion.core.slider import counts

    filled = []
    real = Axes.fill

    def counting(self, *args, **kw):
        filled.append(len(args[0]))
        return real(self, *args, **kw)

    monkeypatch.setattr(Axes, "fill", counting)
    p = {"N": 30, "I_max": 12}
    study = sf.minkowski_study(0.5, p["N"], p["I_max"], n_face=101)
    sf.plot_figure3(subplots(4)[1], study)
    for I in counts(p["I_max"]):
        plt.close(sf.average_figure(study, I))
    plt.close("all")
    # average_figure fills the average and outlines the hull (plot): its hull's vertices counted as drawn too
    hull = len(sf.profile_polygon(torch.as_tensor(study.x)))
    assert costs._vertices("shapley_folkman", p) == sum(filled) + hull * len(counts(p["I_max"]))
    assert costs._frames("shapley_folkman", p) == len(counts(p["I_max"]))


def test_theorem2_counts_its_record_and_its_probes(monkeypatch):
    p = resolve_parameters(get_chapter("theorem2"), "smoke")
    inst = costs.theorem2_instances(p)
    n_calls = len(p["sizes"]) + len(p["gamma_ratios"]) + len(p["gamma_dmin_ratios"]) + len(p["depths"]) + 1
    assert len(inst) == n_calls
    rec = [(100 + i, 50 + i, 60 + 2 * i) for i in range(n_calls)]
    monkeypatch.setitem(costs.THEOREM2_RECORD, costs.record_key("theorem2", p), rec)
    st = costs.theorem2(p, "cpu")
    sdps = [w for w in st if w.stage.startswith("dual SDP")]
    primals = [w for w in st if w.stage.startswith("primal")]
    assert [w.probed["sdp_iter"] for w in sdps] == [r[0] for r in rec] and not any(w.bound for w in sdps)
    assert [w.probed["lbfgs_iter"] for w in primals] == [r[1] for r in rec]
    for w, (n, H, cones, (m, k, R)), r in zip(primals, inst, rec):
        assert w.probed["primal_layer"] == r[2] * H
        assert w.probed["primal_unit"] == pytest.approx(r[2] * H * R * (m * m * k + k**3))
    assert sum(w.probed.get("cvxpy_start", 0) for w in st) == 1
    monkeypatch.setitem(costs.THEOREM2_RECORD, costs.record_key("theorem2", p), rec[:-1])
    with pytest.raises(ValueError, match="instances"):
        costs.theorem2(p, "cpu")


def test_theorem2_s_record_applies_at_the_cpu_preset():
    # the record is keyed on the parameters: a change to a cpu value would silently drop it (cap-bound again)
    p = resolve_parameters(get_chapter("theorem2"), "cpu")
    rec = costs.THEOREM2_RECORD.get(costs.record_key("theorem2", p))
    assert rec is not None and len(rec) == len(costs.theorem2_instances(p))
    assert not any(w.bound for w in costs.theorem2(p, "cpu") if w.stage.startswith(("dual SDP", "primal")))


def test_the_sdp_probe_splits_program_iteration_and_cone_costs(monkeypatch):
    from types import SimpleNamespace

    from companion.duality import deep_linear as dl

    c, a, b = 0.03, 2e-4, 5e-10
    its = {8: 120, 32: 300}

    def fake(X, Y, gamma, dmin, **kw):
        n = X.shape[0]
        solve = its[n] * (a + b * 17 * n**3)
        return SimpleNamespace(seconds=c + solve, solve_seconds=solve, iterations=its[n])

    monkeypatch.setattr(dl, "dual_value", fake)
    got = probes.sdp_solve()
    assert got["sdp_call"] == pytest.approx(c) and got["sdp_iter"] == pytest.approx(a)
    assert got["sdp_k3"] == pytest.approx(b)
