"""Multi-branch VGG-9: counts in closed form, the grouped network against the authors' branch loop,
augmentation against brute force, and training (batched seeds = separate runs; resume = uninterrupted)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from companion.training.vgg import (
    BENCH_FORMS, GridPoint, Recipe, _batches, arm_trends, benchmark_forms, crop_flip, device_settings, figure5_rows,
    grid_points, load_train_test, normalize, points_for, run_rows, train_grid, train_networks, trend_rows,
)
from companion.training.vgg_model import (
    VGG9, BranchLoop, BranchVGG9, branch_seed, compare_forms, config_rows, control_checks, copy_branches, count_macs,
    count_table, figure5_configs, grid_flops, init_branch, make_networks, matched_width, nearest_width, split_width,
    vgg9_macs, vgg9_parameters,
)


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("w", [1, 2, 3, 8, 16, 32])
def test_parameter_count_closed_form_equals_the_module(w):
    assert n_params(VGG9(w)) == vgg9_parameters(w)
    assert n_params(BranchVGG9(3, w, S=2)) == 6 * vgg9_parameters(w)


def test_parameter_counts_of_the_paper_widths():
    assert vgg9_parameters(16) == 175_610
    assert vgg9_parameters(32) == 698_858


@pytest.mark.parametrize("w", [1, 4, 16])
def test_mac_count_closed_form_equals_hooks_on_both_forms(w):
    x = torch.zeros(2, 3, 32, 32)
    assert count_macs(VGG9(w).eval(), x) == vgg9_macs(w)
    assert count_macs(BranchVGG9(4, w, S=2).eval(), x) == 8 * vgg9_macs(w)
    assert count_macs(BranchLoop([VGG9(w) for _ in range(3)]).eval(), x) == 3 * vgg9_macs(w)


def _pair(I: int, w: int, S: int, dtype: torch.dtype = torch.float64):
    branches = [init_branch(w, branch_seed(s, i)).to(dtype) for s in range(S) for i in range(I)]
    for b in branches:      # non-trivial BatchNorm affine parameters and statistics
        for bn in [*b.bns, b.bn_fc]:
            with torch.no_grad():
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.2, 0.2)
                bn.running_mean.uniform_(-0.1, 0.1)
                bn.running_var.uniform_(0.5, 2.0)
    grouped = copy_branches(BranchVGG9(I, w, S).to(dtype), branches)
    return grouped, BranchLoop(branches, S), branches


@pytest.mark.parametrize("I,w,S,streams", [(1, 4, 1, False), (3, 4, 1, False), (3, 2, 2, True), (2, 3, 3, False)])
def test_grouped_equals_branch_loop_train_eval_and_gradients(I, w, S, streams):
    torch.manual_seed(0)
    grouped, loop, branches = _pair(I, w, S)
    x = torch.randn(6, 3 * S if streams else 3, 32, 32, dtype=torch.float64)    # float64: exact up to rounding
    y = torch.randint(0, 10, (6, S))
    out_g, out_l = grouped(x), loop(x)                     # train mode: batch statistics
    assert out_g.shape == out_l.shape == (6, S, 10)
    torch.testing.assert_close(out_g, out_l, atol=1e-10, rtol=1e-9)
    for m, out in ((grouped, out_g), (loop, out_l)):
        torch.nn.functional.cross_entropy(out.reshape(-1, 10), y.reshape(-1)).backward()
    for k in range(7):
        ref = torch.cat([b.convs[k].weight.grad for b in branches])
        torch.testing.assert_close(grouped.convs[k].weight.grad, ref, atol=1e-10, rtol=1e-8)
        ref_bn = torch.cat([b.bns[k].weight.grad for b in branches])
        torch.testing.assert_close(grouped.bns[k].weight.grad, ref_bn, atol=1e-10, rtol=1e-8)
        torch.testing.assert_close(grouped.bns[k].running_mean, torch.cat([b.bns[k].running_mean for b in branches]))
    torch.testing.assert_close(grouped.fc1.weight.grad.flatten(1),
                               torch.cat([b.fc1.weight.grad for b in branches]), atol=1e-10, rtol=1e-8)
    torch.testing.assert_close(grouped.fc2.bias.grad, torch.cat([b.fc2.bias.grad for b in branches]),
                               atol=1e-10, rtol=1e-8)
    grouped.eval(), loop.eval()                            # eval mode: running statistics
    with torch.no_grad():
        torch.testing.assert_close(grouped(x), loop(x), atol=1e-10, rtol=1e-9)


def test_channels_last_and_cpu_bf16_autocast_keep_the_function():
    """The CPU-testable parts of the CUDA path: channels_last gives the same logits; bf16 autocast is close."""
    torch.manual_seed(1)
    grouped, _, _ = _pair(4, 4, 1, torch.float32)
    grouped.eval()
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        ref = grouped(x)
        cl = grouped.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = grouped(x)
    torch.testing.assert_close(cl, ref, atol=1e-5, rtol=1e-4)
    assert low.dtype == torch.bfloat16
    assert float((low.float() - ref).abs().max()) < 0.05 * float(ref.abs().max())


def test_device_settings():
    cpu = device_settings(torch.device("cpu"))
    assert (cpu.form, cpu.amp, cpu.channels_last) == ("loop", None, True)
    cuda = device_settings(torch.device("cuda"))       # a description only: needs no GPU
    assert (cuda.form, cuda.amp, cuda.channels_last) == ("grouped", torch.bfloat16, True)
    assert device_settings(torch.device("cpu"), "grouped", "bf16").amp == torch.bfloat16
    assert device_settings(torch.device("cuda"), "loop").form == "loop"
    with pytest.raises(ValueError, match="choose form"):
        device_settings(torch.device("cpu"), "fast")


def test_bad_shapes_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="3·S = 6"):
        BranchVGG9(2, 2, S=2)(torch.zeros(2, 5, 32, 32))
    with pytest.raises(ValueError, match="for S·I = 4"):
        copy_branches(BranchVGG9(2, 2, S=2), [VGG9(2)])
    with pytest.raises(ValueError, match="need I ≥ 1"):
        BranchVGG9(0, 2)
    data = (torch.zeros(4, 3, 32, 32), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="load_cifar10"):
        train_networks(data, data, I=1, w=1, seeds=[0], recipe=Recipe(epochs=1), device=torch.device("cpu"))


def test_normalize_uses_the_authors_constants():
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    out = normalize(x)
    torch.testing.assert_close(out[0, :, 0, 0], (1 - torch.tensor([0.4914, 0.4822, 0.4465]))
                               / torch.tensor([0.2023, 0.1994, 0.2010]))


def test_crop_flip_is_a_window_of_the_padded_image_found_by_brute_force():
    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(1, 256, (12, 3, 8, 8), generator=g, dtype=torch.uint8)
    out = crop_flip(imgs, pad=2, flip=True, generator=torch.Generator().manual_seed(3))
    padded = torch.nn.functional.pad(imgs, (2, 2, 2, 2))
    offsets, flips = set(), set()
    for b in range(12):
        found = [(oy, ox, f) for oy in range(5) for ox in range(5) for f in (False, True)
                 if torch.equal(out[b], (lambda c: c.flip(-1) if f else c)(padded[b, :, oy:oy + 8, ox:ox + 8]))]
        assert found, b
        offsets.add(found[0][:2])
        flips.add(found[0][2])
    assert len(offsets) > 3 and flips == {False, True}        # really random
    assert torch.equal(crop_flip(imgs, pad=0, flip=False, generator=g), imgs)


def test_batches_drop_only_a_last_single_example():
    assert _batches(257, 128) == [(0, 128), (128, 256)]
    assert _batches(258, 128)[-1] == (256, 258)


def _tiny_data(n: int = 24, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8),
            torch.randint(0, 10, (n,), generator=g))


RECIPE = Recipe(epochs=2, lr=0.05, batch_size=8, milestones=(1,))


def _trained_state(tmp_path, name: str, n: int = 24, recipe: Recipe = RECIPE, **kw) -> tuple[dict, object]:
    ck = tmp_path / f"{name}.pt"
    run = train_networks(_tiny_data(n), _tiny_data(10, 1), w=2, recipe=recipe, device=torch.device("cpu"),
                         checkpoint=ck, **kw)
    return torch.load(ck, weights_only=False)["model"], run


def test_seeds_trained_together_equal_seeds_trained_alone(tmp_path):
    both, run2 = _trained_state(tmp_path, "both", I=2, seeds=[5, 7], form="loop")
    for s, sd in enumerate([5, 7]):
        alone, run1 = _trained_state(tmp_path, f"alone{sd}", I=2, seeds=[sd], form="loop")
        for i in range(2):
            for k, v in alone.items():
                if k.startswith(f"paths.{i}."):
                    torch.testing.assert_close(both[k.replace(f"paths.{i}.", f"paths.{2 * s + i}.", 1)], v)
        assert run1.history[-1]["train_loss"][0] == pytest.approx(run2.history[-1]["train_loss"][s], rel=1e-5)


def test_grouped_training_equals_loop_training(tmp_path):
    """In float64, so that rounding differences between the two forms' kernels stay at rounding level."""
    kw = dict(I=3, seeds=[1, 2], dtype=torch.float64)
    loop, rl = _trained_state(tmp_path, "loop", form="loop", **kw)
    grouped, rg = _trained_state(tmp_path, "grouped", form="grouped", **kw)
    ref = BranchLoop([VGG9(2) for _ in range(6)], 2).double()
    ref.load_state_dict(loop)
    expect = copy_branches(BranchVGG9(3, 2, 2).double(), list(ref.paths)).state_dict()
    for k, v in expect.items():
        torch.testing.assert_close(grouped[k], v, atol=1e-9, rtol=1e-7)
    assert rg.history[-1]["train_loss"] == pytest.approx(rl.history[-1]["train_loss"], rel=1e-9)
    assert rg.history[-1]["lr"] == pytest.approx(0.05 * 0.1)   # the milestone cut the rate


def test_interrupted_training_resumes_to_the_same_result(tmp_path):
    straight, run_a = _trained_state(tmp_path, "straight", I=2, seeds=[3], form="grouped")

    def stop(epoch, run):
        if epoch == 1:
            raise KeyboardInterrupt

    kw = dict(I=2, w=2, seeds=[3], recipe=RECIPE, device=torch.device("cpu"), form="grouped",
              checkpoint=tmp_path / "resumed.pt")
    with pytest.raises(KeyboardInterrupt):
        train_networks(_tiny_data(), _tiny_data(10, 1), on_epoch=stop, **kw)
    assert torch.load(tmp_path / "resumed.pt", weights_only=False)["epoch"] == 1
    run_b = train_networks(_tiny_data(), _tiny_data(10, 1), **kw)
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=False)["model"]
    for k, v in straight.items():
        torch.testing.assert_close(resumed[k], v, atol=0, rtol=0)
    assert [h["train_loss"] for h in run_b.history] == [h["train_loss"] for h in run_a.history]
    assert run_b.images == run_a.images == 2 * 24
    again = train_networks(_tiny_data(), _tiny_data(10, 1), **kw)      # finished: returns without training
    assert again.history == run_b.history
    with pytest.raises(ValueError, match="delete it"):
        train_networks(_tiny_data(), _tiny_data(10, 1), **{**kw, "seeds": [4]})


def test_make_networks_is_the_same_network_alone_or_beside_others():
    x = torch.randn(4, 3, 32, 32)
    both, alone = make_networks(2, 2, [0, 9]).eval(), make_networks(2, 2, [9]).eval()
    with torch.no_grad():
        torch.testing.assert_close(both(x)[:, 1], alone(x)[:, 0])


def test_benchmark_forms_agree_and_report_every_form():
    before = torch.get_num_threads()
    rows = benchmark_forms([1, 2], 2, batch=4, repeats=2, device=torch.device("cpu"), S=2, threads=1, gemm=1e9)
    assert torch.get_num_threads() == before                       # restored
    assert [(r["I"], r["form"]) for r in rows] == [(I, f) for I in (1, 2) for f in BENCH_FORMS]
    for r in rows:
        assert r["max_diff"] < 1e-4 and r["threads"] == 1 and r["img/s"] > 0
        assert r["GFLOP/s"] == pytest.approx(r["img/s"] * 6 * r["I"] * vgg9_macs(2) / 1e9)
        assert r["of GEMM rate"] == pytest.approx(r["GFLOP/s"])     # gemm = 1 GFLOP/s
    assert all(r["time ÷ loop's"] == 1.0 for r in rows if r["form"] == "loop")


@pytest.mark.parametrize("I,S", [(1, 1), (3, 2)])
def test_compare_forms_finds_them_equal_in_float64(I, S):
    d = compare_forms(I, 2, S=S)
    assert max(d.values()) < 1e-12


def test_grid_flops_by_brute_force():
    brute = sum(3 * 2 * I * vgg9_macs(w) * 50 + 2 * I * vgg9_macs(w) * 10 for w in (2, 4) for I in (1, 3) for _ in range(7))
    assert grid_flops([2, 4], [1, 3], epochs=7, n_train=50, n_test=10) == pytest.approx(brute, rel=1e-12)


def _grid_points(data_dir, tmp_path=None) -> list:
    recipe = Recipe(epochs=1, lr=0.05, batch_size=8, milestones=())
    return [GridPoint(w=2, I=I, seeds=(3, 4), recipe=recipe, data_dir=str(data_dir), n_train=24, n_test=10,
                      data_seed=0, device="cpu", form="grouped", amp="off") for I in (1, 2)]


def _comparable(run) -> list:
    return [[{k: v for k, v in h.items() if k != "seconds"} for h in run.history], run.test_acc, run.images]


def test_grid_points_train_as_train_networks_and_resume_from_the_store(chapter_data_dir, tmp_path, monkeypatch):
    points = _grid_points(chapter_data_dir)
    tr, te = load_train_test(str(chapter_data_dir), 24, 10, 0)
    direct = [train_networks((tr.images, tr.labels), (te.images, te.labels), I=p.I, w=2, seeds=[3, 4],
                             recipe=p.recipe, device=torch.device("cpu"), form="grouped", amp="off") for p in points]
    loaded_here = train_grid(points, store=tmp_path / "store")              # each point loads its own data
    given = train_grid(points, data=(tr, te))
    assert [_comparable(r) for r in loaded_here] == [_comparable(r) for r in given] == [_comparable(r) for r in direct]
    assert direct[0].history[0]["train_loss"] != direct[1].history[0]["train_loss"]      # the points differ
    monkeypatch.setattr("companion.training.vgg.train_networks", lambda *a, **k: pytest.fail("recomputed a stored point"))
    resumed = train_grid(points, store=tmp_path / "store")
    assert [_comparable(r) for r in resumed] == [_comparable(r) for r in direct]


def test_grid_on_a_two_worker_cluster_equals_the_local_grid(chapter_data_dir):
    """Equal up to float32 rounding: a worker runs torch single-threaded, which changes the convolutions'
    summation order (the accuracies and counts are exactly equal)."""
    pytest.importorskip("distributed")
    points = _grid_points(chapter_data_dir)
    local = train_grid(points)
    dask = train_grid(points, scheduler="local:2")
    for a, b in zip(dask, local):
        assert a.test_acc == b.test_acc and a.images == b.images and len(a.history) == len(b.history)
        for ha, hb in zip(a.history, b.history):
            assert ha["train_acc"] == hb["train_acc"] and ha["lr"] == hb["lr"]
            assert ha["train_loss"] == pytest.approx(hb["train_loss"], rel=1e-5)
    assert local[0].history[0]["train_loss"] != pytest.approx(local[1].history[0]["train_loss"], rel=1e-3)


def test_count_table_closed_forms_equal_the_modules_counts():
    rows = count_table([1, 3, 8])
    assert [r["w"] for r in rows] == [1, 3, 8]
    for r in rows:
        assert r["parameters per branch"] == r["counted"] == n_params(VGG9(r["w"]))
        assert r["MACs per image and branch"] == r["counted by hooks"]
        assert r["training GFLOP per image, I = 32"] == pytest.approx(6 * 32 * vgg9_macs(r["w"]) / 1e9, rel=1e-12)


def test_seed_layouts_keep_the_old_formulas():
    """branch_seed and the epoch draws were seed · 10007 + i and seed · 1000003 + epoch (+ 500009)."""
    from companion.core import seeds as seedlib

    assert [branch_seed(s, i) for s in (0, 3) for i in range(3)] == [s * 10_007 + i for s in (0, 3) for i in range(3)]
    assert seedlib.derive(5, "vgg_epoch", epoch=7, stream=0) == 5 * 1_000_003 + 7
    assert seedlib.derive(5, "vgg_epoch", epoch=7, stream=1) == 5 * 1_000_003 + 7 + 500_009
    with pytest.raises(ValueError, match="outside"):              # would run into the next seed's draws
        seedlib.derive(5, "vgg_epoch", epoch=499_994, stream=1)


def test_grid_points_cover_the_grid_with_checkpoints(tmp_path):
    recipe = Recipe(epochs=1)
    pts = grid_points([2, 4], [1, 3], [5, 6], recipe, data_dir="", n_train=10, n_test=5, data_seed=0,
                      device=torch.device("cpu"), checkpoint_dir=tmp_path)
    assert [(p.w, p.I) for p in pts] == [(2, 1), (2, 3), (4, 1), (4, 3)]
    assert all(p.seeds == (5, 6) and p.device == "cpu" and p.data_dir is None for p in pts)
    assert pts[1].checkpoint == str(tmp_path / "w2_I3_wd0.0005_seeds5-6.pt")
    assert grid_points([2], [1], [5], recipe, data_dir=None, n_train=10, n_test=5, data_seed=0)[0].checkpoint is None


def test_run_rows_read_every_network():
    runs = [train_networks(_tiny_data(), _tiny_data(10, 1), I=I, w=2, seeds=[3, 4], recipe=RECIPE, form="grouped")
            for I in (1, 2, 4)]
    rows = run_rows(runs)
    assert [(r["I"], r["seed"]) for r in rows] == [(I, s) for I in (1, 2, 4) for s in (3, 4)]
    assert [r["test acc."] for r in rows] == [a for run in runs for a in run.test_acc]
    assert rows[2]["parameters"] == 2 * vgg9_parameters(2) and rows[0]["weight decay"] == RECIPE.weight_decay


# ---- the controls --------------------------------------------------------------------------------------------

def test_nearest_width_is_the_brute_force_nearest():
    for target in [1, 10, 800, 2948, 5000, 44354, 177416, 1_419_328, 22_363_456]:
        brute = min(range(1, 400), key=lambda w: (abs(vgg9_parameters(w) - target), w))
        assert nearest_width(target) == brute
    with pytest.raises(ValueError, match="positive"):
        nearest_width(0)


def test_matched_and_split_widths_at_the_paper_and_cpu_shapes():
    # parameter-matched single branch: about w·sqrt(I); the stated widths and counts
    assert [matched_width(I, 16) for I in (4, 8, 16, 32)] == [32, 45, 64, 91]
    assert [matched_width(I, 32) for I in (4, 8, 16, 32)] == [64, 91, 128, 181]
    assert [matched_width(I, 8) for I in (4, 8, 16, 32)] == [16, 23, 32, 46]
    # fixed budget split of 4 branches' parameters: about w·sqrt(4 / I)
    assert [split_width(4 * vgg9_parameters(32), I) for I in (4, 8, 16, 32)] == [32, 23, 16, 11]
    assert [split_width(4 * vgg9_parameters(8), I) for I in (4, 8, 16, 32)] == [8, 6, 4, 3]


@pytest.mark.parametrize("w", [4, 8, 16])
def test_control_parameter_counts_against_the_closed_forms_and_the_modules(w):
    Is = [4, 8, 16, 32]
    cs = figure5_configs([w], Is)
    assert [c.arm for c in cs] == ["multi-branch"] * 4 + ["matched"] * 4 + ["split"] * 4
    for c in cs:
        assert c.parameters == sum(p.numel() for p in BranchVGG9(c.branches, c.width).parameters())
        if c.arm == "multi-branch":
            assert (c.branches, c.width, c.target, c.mismatch) == (c.I, w, c.I * vgg9_parameters(w), 0.0)
        elif c.arm == "matched":
            assert c.branches == 1 and c.target == c.I * vgg9_parameters(w)
            assert c.parameters == vgg9_parameters(c.width)
        else:
            assert c.branches == c.I and c.target == 4 * vgg9_parameters(w)
            assert c.parameters == c.I * vgg9_parameters(c.width)
        if c.arm != "multi-branch":                 # nearest: no integer width does better
            assert all(abs(c.branches * vgg9_parameters(v) - c.target) >= abs(c.parameters - c.target)
                       for v in range(1, 4 * c.width + 4))
    assert cs[8].point == cs[0].point                # the split at the smallest I is the multi-branch network
    assert control_checks(cs) == {"counts": True, "nearest": True}
    rows = config_rows(cs)
    assert rows[5]["mismatch"] == pytest.approx(rows[5]["parameters"] / rows[5]["target"] - 1)
    assert figure5_configs([w], Is, split_I=8)[9].width == w     # the split's total is then 8 branches of width w


def test_control_checks_catch_a_wrong_width():
    from companion.training.vgg_model import Config

    bad = Config("matched", 8, 4, 1, 17, 4 * vgg9_parameters(8))     # 16 is nearer
    assert control_checks([bad]) == {"counts": True, "nearest": False}


# ---- points, resume mid-grid, threads, the trend statistics -----------------------------------------------

def test_points_for_dedupes_pairs_and_names_checkpoints_by_weight_decay(tmp_path):
    recipes = [Recipe(epochs=1), Recipe(epochs=1, weight_decay=0.0)]
    pts = points_for([(8, 4), (16, 1), (8, 4)], [5, 6, 7], recipes, data_dir="", n_train=10, n_test=5, data_seed=0,
                     checkpoint_dir=tmp_path)
    assert [(p.w, p.I, p.recipe.weight_decay) for p in pts] == [(8, 4, 5e-4), (16, 1, 5e-4), (8, 4, 0.0), (16, 1, 0.0)]
    assert pts[2].checkpoint == str(tmp_path / "w8_I4_wd0_seeds5-7.pt")
    assert pts[0].checkpoint == str(tmp_path / "w8_I4_wd0.0005_seeds5-7.pt")
    with pytest.raises(ValueError, match="distinct weight decays"):
        points_for([(8, 4)], [5], [Recipe(), Recipe(epochs=2)], data_dir="", n_train=10, n_test=5, data_seed=0,
                   checkpoint_dir=tmp_path)


def _mid_grid_points(data_dir, ck):
    recipe = Recipe(epochs=2, lr=0.05, batch_size=8, milestones=(1,))
    return points_for([(2, 1), (2, 2), (3, 1)], (3, 4), [recipe], data_dir=str(data_dir), n_train=24, n_test=10,
                      data_seed=0, device="cpu", form="loop", amp="off", checkpoint_dir=ck)


def test_the_grid_resumes_mid_grid_from_its_store_and_checkpoints(chapter_data_dir, tmp_path, monkeypatch):
    """A grid interrupted during the second point's second epoch: the rerun loads the first point from the
    store, resumes the second from its checkpoint after epoch 1 and trains the third; the result equals an
    uninterrupted grid's."""
    import companion.training.vgg as vgg

    straight = train_grid(_mid_grid_points(chapter_data_dir, tmp_path / "a"), store=tmp_path / "a" / "results")
    ck = tmp_path / "b"
    points = _mid_grid_points(chapter_data_dir, ck)
    real, calls = vgg._train_epoch, []

    def interrupting(*a, **k):
        calls.append(a[4])                                   # the epoch
        if len(calls) == 4:                                  # point 2, epoch 2
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(vgg, "_train_epoch", interrupting)
    with pytest.raises(KeyboardInterrupt):
        train_grid(points, store=ck / "results")
    assert len(list((ck / "results").glob("*.pkl"))) == 1                      # point 1 finished
    assert torch.load(points[1].checkpoint, weights_only=False)["epoch"] == 1  # point 2 stopped after epoch 1
    assert not Path(points[2].checkpoint).exists()
    calls.clear()
    resumed = train_grid(points, store=ck / "results")
    assert calls == [1, 0, 1]               # point 1 from the store; point 2 from epoch 2; point 3 from the start
    assert [_comparable(r) for r in resumed] == [_comparable(r) for r in straight]


def test_workers_side_by_side_compute_what_each_point_computes_alone(chapter_data_dir):
    points = [replace(p, checkpoint=None) for p in _mid_grid_points(chapter_data_dir, None)]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        side = train_grid(points, workers=2)                          # one torch thread each
        torch.set_num_threads(1)
        alone = train_grid(points)
    finally:
        torch.set_num_threads(before)
    assert [_comparable(r) for r in side] == [_comparable(r) for r in alone]
    assert [(r.w, r.I) for r in side] == [(2, 1), (2, 2), (3, 1)]     # in the points' order
    with pytest.raises(ValueError, match="workers"):
        train_grid(points, workers=0)


def test_test_every_tests_at_its_epochs_and_the_last():
    run = train_networks(_tiny_data(), _tiny_data(10, 1), I=1, w=2, seeds=[3], form="loop", test_every=0,
                         recipe=Recipe(epochs=3, lr=0.05, batch_size=8, milestones=()))
    assert [h["test_acc"] is None for h in run.history] == [True, True, False]
    assert run.test_acc == run.history[-1]["test_acc"]


def _fake_runs(acc, train, Is=(4, 8, 16), seeds=(0, 1, 2), wd=5e-4):
    from companion.training.vgg import TrainRun

    return [TrainRun(I, 2, list(seeds), [{"train_acc": list(train[:, k])}], list(acc[:, k]), 1.0, 1, wd)
            for k, I in enumerate(Is)]


def test_arm_trends_slope_steps_and_gate_by_hand():
    import numpy as np

    acc = np.array([[0.50, 0.52, 0.55], [0.48, 0.51, 0.52], [0.49, 0.53, 0.56]])     # (seeds, I)
    train = np.array([[0.9, 0.85, 0.95], [0.8, 0.85, 0.75], [0.85, 0.9, 0.8]])
    cs = [c for c in figure5_configs([2], [4, 8, 16]) if c.arm == "multi-branch"]
    rows = figure5_rows(cs, _fake_runs(acc, train))
    assert [(r["I"], r["seed"]) for r in rows] == [(I, s) for I in (4, 8, 16) for s in (0, 1, 2)]
    (t,) = arm_trends(rows)
    per_seed = [np.polyfit([2, 3, 4], a, 1)[0] for a in acc]                 # log2 I = 2, 3, 4
    assert t.slope == pytest.approx(np.mean(per_seed))
    half = 4.302652729911275 * np.std(per_seed, ddof=1) / np.sqrt(3)          # t(0.975, 2)
    assert (t.low, t.high) == (pytest.approx(t.slope - half), pytest.approx(t.slope + half))
    d = acc[:, 1:] - acc[:, :-1]
    assert t.steps[:, 0] == pytest.approx(d.mean(0))
    assert t.min_step[0] == pytest.approx(d.mean(0).min()) and t.min_step[1] == pytest.approx(t.steps[:, 1].min())
    assert t.gate == pytest.approx(train.mean(0).min())
    assert trend_rows([t])[0]["gate"] == t.gate and trend_rows([t])[0]["seeds"] == 3


def test_arm_trends_see_a_fall_and_noise():
    import numpy as np

    rng = np.random.default_rng(0)
    falling = 0.6 - 0.02 * np.arange(4) + 0.001 * rng.standard_normal((3, 4))
    (t,) = arm_trends(figure5_rows([c for c in figure5_configs([2], [4, 8, 16, 32]) if c.arm == "multi-branch"],
                                   _fake_runs(falling, falling, Is=(4, 8, 16, 32))))
    assert t.high < 0 and t.min_step[2] < 0
    noise = 0.5 + 0.01 * rng.standard_normal((3, 4))
    (t,) = arm_trends(figure5_rows([c for c in figure5_configs([2], [4, 8, 16, 32]) if c.arm == "multi-branch"],
                                   _fake_runs(noise, noise, Is=(4, 8, 16, 32))))
    assert t.low < 0 < t.high


def test_refresh_batchnorm_averages_the_batches_and_leaves_training_alone():
    from companion.training.vgg import refresh_batchnorm

    images = _tiny_data(24)[0]
    model = make_networks(1, 2, [3], form="loop")
    refresh_batchnorm(model, images, settings=device_settings("cpu"), chunk=8)
    bn, conv = model.paths[0].bns[0], model.paths[0].convs[0]
    with torch.no_grad():
        outs = [conv(normalize(images[a:a + 8])) for a in (0, 8, 16)]
    torch.testing.assert_close(bn.running_mean, torch.stack([o.mean((0, 2, 3)) for o in outs]).mean(0))
    torch.testing.assert_close(bn.running_var, torch.stack([o.var((0, 2, 3)) for o in outs]).mean(0))
    assert bn.momentum == 0.1                                          # restored
    kw = dict(I=2, w=2, seeds=[3], form="loop", recipe=RECIPE)
    plain = train_networks(_tiny_data(), _tiny_data(10, 1), **kw)
    fresh = train_networks(_tiny_data(), _tiny_data(10, 1), bn_refresh=16, **kw)
    assert [h["train_loss"] for h in fresh.history] == [h["train_loss"] for h in plain.history]
