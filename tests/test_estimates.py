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
    threads, engine); with a block whose training takes cap · (N·a + F(B)·b) it recovers a and b."""
    from types import SimpleNamespace

    from companion.training import block as blk
    from companion.training import hitting
    from companion.training.onehidden import matmul_flops

    monkeypatch.setattr(blk, "available", lambda: True)
    a, b = 2e-7, 3e-12
    S, widths, seen = 4, (10, 12), []

    def fake_run_block(config):
        seen.append(config)
        (_, pd, s), = config["rows"]
        N, U = s * len(config["widths"]), s * sum(config["widths"])
        return SimpleNamespace(seconds=pd["steps"] * (N * a + matmul_flops(U, pd["d"], pd["batch_size"]) * b))

    monkeypatch.setattr(hitting, "run_block", fake_run_block)
    got = probes.block(S=S, widths=widths)
    assert got["block_net_step"] == pytest.approx(a) and got["block_flop"] == pytest.approx(b)
    chapter = hitting.block_configs({"probe": (hitting.Protocol(batch_size=10, steps=500, rule="none"), S)}, widths)
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
