"""companion plan: every chapter at every preset, "will not fit" where memory is short, the calibration cache
(atomic, reused), FLOP counts against hand counts, the fit against the model it inverts, the CLI and the line a
chapter prints when it starts."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

from companion.book import costs, plan
from companion.book.chapters import PRESETS, chapter_names, get_chapter, resolve_parameters
from companion.book.cli import GPU_CHOICES, main
from companion.landscapes.pipeline import FIG4_ROWS
from companion.training.nets import n_parameters

FAKE = plan.Machine(name="fake", gemm=1e11, gemm_tc=1e11, bandwidth=2e10, op=2e-6, assign=1e-10, eig=2e-9,
                    memory=24e9, measured=True, load=0.0)


def fake_measure(device: str = "cpu") -> dict[str, float]:
    return {"gemm": FAKE.gemm, "bandwidth": FAKE.bandwidth, "op": FAKE.op, "assign": FAKE.assign, "eig": FAKE.eig,
            "memory": FAKE.memory, "load": 0.0}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The calibration cache in a fresh folder, and micro-benchmarks that return FAKE at once (counted)."""
    calls: list[str] = []
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(plan, "measure", lambda device="cpu": calls.append(device) or fake_measure(device))
    return tmp_path / "companion" / "calibration.json", calls


def stages(name: str, preset: str, device: str = "cpu") -> list[plan.Work]:
    return plan.chapter_stages(name, resolve_parameters(get_chapter(name), preset), device)


@pytest.mark.parametrize("preset", PRESETS)
def test_the_plan_has_every_chapter_at_every_preset(preset):
    gpu = plan.gpu_machine("h100", FAKE)
    rows = plan.plan_rows(preset, here=FAKE, host=FAKE, gpu=gpu)
    assert [r.chapter for r in rows] == chapter_names()
    for r in rows:
        assert r.here.total > plan.FIT.t0 and r.gpu.total > plan.FIT.t0 and r.here.peak >= plan.BASE_BYTES
    text = plan.format_table(rows, preset=preset, device="cpu", here=FAKE, host=FAKE, gpu="h100")
    lines = text.splitlines()
    for name in chapter_names():
        assert sum(line.startswith(name + " ") for line in lines) == 1, name
    assert ("est/meas" in text) == (preset == "cpu")             # residuals against measured times at cpu only


def test_every_chapter_costs_more_at_each_larger_preset():
    for name in chapter_names():
        t = [plan.estimate(stages(name, p), FAKE, FAKE).total for p in PRESETS]
        assert t[0] <= t[1] <= t[2], (name, t)


def test_will_not_fit_where_the_peak_exceeds_the_memory():
    tiny = replace(FAKE, memory=0.5e9)                               # below what a kernel holds before any array
    rows = plan.plan_rows("smoke", here=tiny, host=tiny, gpu=None, chapters=["theorem1"])
    assert not rows[0].here.fits
    assert "will not fit" in plan.format_table(rows, preset="smoke", device="cpu", here=tiny, host=tiny, gpu=None)



def test_the_paper_row_of_figure_4_fits_an_80_gb_gpu_as_the_code_holds_it():
    # I = 50,000 deep CIFAR-10 branches: networks of N = 4.96 GB. Trained in place (3N and chunk-sized gradients);
    # then the solutions, the main view's plane kept for the benchmark (3N) and one segment's axis (1N): about
    # 7N plus the evaluators' buffers, not the 5 copies per network of a copying trainer (93.8 GB)
    p = resolve_parameters(get_chapter("real_landscapes"), "paper")
    N = 4 * n_parameters(50_000, FIG4_ROWS["cifar_deep"][1])
    st = plan.chapter_stages("real_landscapes", p, "cuda")
    e80 = plan.estimate(st, plan.gpu_machine("h100", FAKE), FAKE)
    assert e80.fits and 7 * N < e80.peak < 9 * N
    train = next(w for w in st if w.stage == "cifar_deep I=50000: train")
    assert 3 * N < train.peak < 4 * N
    top = max(st, key=lambda w: w.peak)
    assert top.stage.startswith("cifar_deep") and "train" not in top.stage
    # a copying trainer (caller's weights and a working copy) and one without branch chunks hold more
    w = FIG4_ROWS["cifar_deep"][1]
    kw = dict(S=3, I=50_000, widths=w, steps=10, batch=128, n=50_000, example_chunk=1365)
    assert costs.sgd("t", in_place=True, branch_chunk=2048, **kw).peak + 3 * N == pytest.approx(
        costs.sgd("t", in_place=False, branch_chunk=2048, **kw).peak)
    assert costs.sgd("t", in_place=True, branch_chunk=None, **kw).peak > train.peak + 2.5 * N


def test_the_peak_model_against_the_recorded_profile():
    # landscape_pipeline.profile_stages' defaults (I branches 3072-8-8-8-10, 2,000 examples, batches of 128,
    # G = 5, n_eval = n_probe = 500, chunks of 2,048), measured on the 2-core CPU machine (resident memory): the
    # model counts what is alive, not what the allocator keeps, and stays within 0.7–1.1 of the measured peak
    from companion.landscapes.profile import recorded_profile

    t = recorded_profile()
    for I, gib in t[t["stage"] == "total"].set_index("I")["peak_gib"].items():
        st = costs._branch_panel("p", I=int(I), widths=FIG4_ROWS["cifar_deep"][1], steps=20, batch=128, n=2000,
                                 n_eval=500, G=5, views=2, n_probe=500, device="cpu", branch_chunk=2048)
        model = (plan.BASE_BYTES + max(w.peak for w in st)) / 2**30
        assert 0.7 < model / gib < 1.1, (I, model, gib)


def test_the_calibration_is_cached_atomically_and_reused(cache, monkeypatch):
    path, calls = cache
    a = plan.calibrate("cpu")
    b = plan.calibrate("cpu")
    assert calls == ["cpu"] and a == b and a.gemm == FAKE.gemm and a.measured
    saved = json.loads(path.read_text())
    assert list(saved) == [plan.calibration_key("cpu")] and saved[plan.calibration_key("cpu")]["gemm"] == FAKE.gemm
    assert [p.name for p in path.parent.iterdir()] == [path.name]    # no temporary file left
    plan.calibrate("cpu", recalibrate=True)
    assert calls == ["cpu", "cpu"]

    def interrupted(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", interrupted)                  # the write fails at its last step
    with pytest.raises(OSError, match="disk full"):
        plan.calibrate("cpu", recalibrate=True)
    monkeypatch.undo()
    assert json.loads(path.read_text()) == saved                    # the old cache is whole
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_an_unreadable_cache_is_measured_again(cache):
    path, calls = cache
    path.parent.mkdir(parents=True)
    path.write_text("{half a file")
    plan.calibrate("cpu")
    assert calls == ["cpu"] and plan.calibration_key("cpu") in json.loads(path.read_text())


def test_flop_counts_match_hand_counts():
    # hitting_rate at smoke, the headline: 20,000 steps of 4·B·U·(d + 1) FLOPs (onehidden.matmul_flops) with
    # U = 10 seeds × (10 + 16 + 21) units, B = 100, d = 10
    head = next(w for w in stages("hitting_rate", "smoke") if w.stage == "headline")
    assert head.flops == 20_000 * 4 * 100 * 470 * 11 == 41_360_000_000
    # SGD on S = 3 networks of I = 2 branches (4, 3, 1), minibatches of 5 of n = 20, 10 steps, a check every 5:
    # per step (6·30 − 2·24)·5·3 = 1,980 (P = 30 parameters; the first layer's 24 need no input gradient),
    # and 3 checks of 2·30·20·3 = 3,600
    assert costs.sgd("t", S=3, I=2, widths=(4, 3, 1), steps=10, batch=5, n=20, check_every=5).flops == 30_600
    # vgg_branches at smoke: w = 4, I ∈ {2, 4} and the controls, i.e. the distinct networks (width, branches)
    # (4, 2), (4, 4), matched (6, 1), (8, 1), split (3, 4) (the split at I = 2 is (4, 2)), with 852,128,
    # 1,834,224, 3,187,008 and 500,088 MACs per branch and image at w = 4, 6, 8, 3 (46,336w² + 27,688w);
    # 2 seeds, 1 epoch of 512 training images (6 FLOPs per MAC), then a forward pass over 512 of them (the
    # BatchNorm statistics) and a test over 500 (2 per MAC each)
    train = sum(w.flops for w in stages("vgg_branches", "smoke") if w.stage.startswith("train"))
    macs = (2 + 4) * 852_128 + 1_834_224 + 3_187_008 + 4 * 500_088
    assert macs == 12_134_352
    assert train == 2 * 1 * macs * (6 * 512 + 2 * (500 + 512)) == 123_673_315_584


def test_the_fit_recovers_the_efficiencies_it_was_made_with():
    truth = plan.Fit(t0=4.0, eta_gemm=0.4, eta_memory=1.5, eta_ops=0.3)
    all_costs = {n: stages(n, "cpu") for n in chapter_names()}
    measured = {n: plan.estimate(st, FAKE, FAKE, truth).total for n, st in all_costs.items()}
    got = plan.fit(all_costs, measured, FAKE)
    assert (got.eta_gemm, got.eta_memory, got.eta_ops) == pytest.approx((0.4, 1.5, 0.3), rel=1e-3)
    with pytest.raises(ValueError, match="at least 3 chapters"):
        plan.fit(all_costs, {"theorem1": 20.0, "theorem2": float("nan")}, FAKE)


def test_bad_devices_and_gpu_classes_are_refused_naming_the_choices():
    with pytest.raises(ValueError, match="h100, h100-pcie, h200"):
        plan.gpu_machine("tpu-v5", FAKE)
    with pytest.raises(ValueError, match="'cpu' or 'cuda'"):
        plan.calibrate("tpu")
    with pytest.raises(ValueError, match="no cost model for chapter 'nope'"):
        plan.chapter_stages("nope", {})
    assert set(GPU_CHOICES) == set(plan.GPU_CLASSES)
    h100 = plan.gpu_machine("h100", FAKE)                           # datasheet × attainable fraction
    assert h100.gemm == pytest.approx(0.7 * 67e12) and h100.bandwidth == pytest.approx(0.8 * 3.35e12)
    assert h100.memory == 80e9 and not h100.measured and h100.op >= plan.GPU_LAUNCH_S


def test_the_command_prints_the_table(cache, capsys):
    path, _ = cache
    assert main(["plan", "--preset", "cpu", "--chapters", "theorem1", "parallel_relu"]) == 0
    out = capsys.readouterr().out
    assert "theorem1" in out and "parallel_relu" in out and "h100 (extrapolated)" in out
    assert "residuals vs measured cpu times" in out and path.exists()
    assert main(["plan", "--preset", "paper", "--device", "cuda", "--gpu", "h200", "--chapters", "vgg_branches"]) == 0
    out = capsys.readouterr().out
    assert "h200 (extrapolated)" in out and "vgg_branches" in out
    assert main(["plan", "--chapters", "nope"]) == 2
    assert "unknown chapter 'nope'" in capsys.readouterr().err


def test_the_runner_estimates_the_plan_of_the_run_s_own_parameters(cache):
    from companion.book.runner import plan_for

    params = resolve_parameters(get_chapter("shapley_folkman"), "smoke")
    line, numbers = plan_for("shapley_folkman", params, "cpu")
    _, more = plan_for("shapley_folkman", {**params, "N": 4000}, "cpu")
    assert line.startswith("plan: ~") and "GFLOP, peak ~" in line and line.endswith("on this machine")
    assert more["seconds"] > numbers["seconds"] and numbers["fits"]
    bad_line, bad = plan_for("shapley_folkman", {**params, "N": "many"}, "cpu")
    assert bad == {} and bad_line.startswith("plan: no estimate")