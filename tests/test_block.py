"""The block trainer (per-network hyper-parameters, one block) against separate runs of each network, in float64,
for the compiled kernel and the torch engine; exact-zero stops; bad input; the fallback without a compiler."""

from __future__ import annotations

import math

import pytest
import torch

from companion.core.data import synthetic_teacher
from companion.training import block
from companion.training.block import train_block
from companion.training.onehidden import Nets, init_nets, outputs, train_autograd, train_onehidden

ENGINES = ["torch", pytest.param("compiled", marks=pytest.mark.skipif(
    not block.available(), reason=f"no compiled kernel: {block.why_unavailable()}"))]
needs_kernel = pytest.mark.skipif(not block.available(), reason=f"no compiled kernel: {block.why_unavailable()}")


def data(d: int, n: int = 130):
    ds = synthetic_teacher(n=n, d=d, hidden=5, seed=3)
    return ds.x, ds.y


def one(nets: Nets, s: int) -> Nets:
    return nets.select(torch.tensor([s]))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("d", [10, 6])                  # the kernel's d = 10 path and its generic one
def test_block_equals_separate_runs_with_per_network_hyper_parameters(engine, d):
    x, y = data(d)
    widths = [2, 3, 5, 8, 4, 1, 7, 3, 6, 2, 9, 4]
    S = len(widths)
    nets = init_nets(widths, d, list(range(20, 20 + S)), dtype=torch.float64)
    lr = [2.0, 3.0, 1.0, 2.5, 0.5, 2.0, 3.0, 1.5, 2.0, 8.0, 10.0, 6.0]
    tau = [1.0, 0.5, 2.0, 1.0, 0.7, 1.0, 1.0, 0.5, 1.5, 1.0, 0.8, 1.0]
    output = ["sum", "mean", "sum", "mean", "sum", "sum", "mean", "sum", "mean", "sum", "sum", "mean"]
    caps = [300, 250, 300, 120, 300, 77, 300, 200, 300, 300, 150, 300]
    rule = ["authors"] * 6 + ["none"] * 3 + ["cuts"] * 3
    cuts = [3] * 9 + [20] * 3                           # "cuts" networks never spend all their cuts here
    # batch 40 does not divide n = 130 (a short last batch); checks every 5 steps exercise cuts and stops
    kw = dict(batch_size=40, batch_seed=5, check_every=5)
    r = train_block(nets, x, y, lr=lr, tau=tau, output=output, steps=caps, rule=rule, cuts=cuts, engine=engine,
                    threads=2, **kw)
    assert r.engine == engine
    for s in range(S):
        stop = 1e-5 if rule[s] == "authors" else -math.inf
        every = 5 if rule[s] != "none" else caps[s] + 1
        ref = train_onehidden(one(nets, s), x, y, lr=lr[s], tau=tau[s], output=output[s], steps=caps[s],
                              cuts=cuts[s], stop_loss=stop, batch_size=40, batch_seed=5, check_every=every)
        w, a = r.nets.network(s)
        torch.testing.assert_close(w, ref.nets.W, rtol=1e-9, atol=1e-12)          # float64 rounding, amplified
        torch.testing.assert_close(a, ref.nets.a, rtol=1e-9, atol=1e-12)
        assert int(r.steps[s]) == int(ref.steps[0]) or bool(r.converged[s])
        assert float(r.loss[s]) == pytest.approx(float(ref.loss[0]), rel=1e-9, abs=1e-12)
        assert int(r.cuts[s]) == int(ref.cuts[0]) and float(r.lr[s]) == float(ref.lr[0])
        assert bool(r.stopped_by_rule[s]) == bool(ref.stopped_by_rule[0])
        if not bool(r.converged[s]):
            assert float(r.batch_loss[s]) == pytest.approx(float(ref.batch_loss[0]), rel=1e-9, abs=1e-12)
    authors = slice(0, 6)
    assert bool((r.steps[authors] < torch.tensor(caps[authors])).any()), "the rule must stop some network"
    assert int(r.cuts.max()) >= 1 and int(r.cuts[9:].max()) >= 1, "the rule must cut some rates, 'cuts' ones too"
    assert not bool(r.stopped_by_rule[6:].any()) and int(r.cuts[6:9].max()) == 0
    assert r.net_steps == int(r.steps.sum())


@pytest.mark.parametrize("engine", ENGINES)
def test_block_equals_autograd_with_the_rule(engine):
    x, y = data(10)
    nets = init_nets([3, 6, 2, 5], 10, [1, 2, 3, 4], output="mean", dtype=torch.float64)
    kw = dict(lr=3.0, batch_size=40, steps=200, batch_seed=2, tau=0.5, output="mean", check_every=5)
    r = train_block(nets, x, y, rule="authors", engine=engine, **kw)
    for s, (w, a, taken) in enumerate(train_autograd(nets, x, y, **kw)):
        rw, ra = r.nets.network(s)
        assert int(r.steps[s]) == taken
        torch.testing.assert_close(rw, w, rtol=0, atol=1e-10)
        torch.testing.assert_close(ra, a, rtol=0, atol=1e-10)


def test_cuts_without_cuts_left_is_a_fixed_rate_run():
    # under "cuts" a network whose loss rose with no cuts left goes on at its rate: the same run as "none"
    x, y = data(10)
    nets = init_nets([4, 7, 3], 10, [5, 6, 7], dtype=torch.float64)
    kw = dict(lr=4.0, batch_size=30, steps=150, check_every=5, engine="torch")
    cut = train_block(nets, x, y, rule="cuts", cuts=0, **kw)
    fixed = train_block(nets, x, y, rule="none", **kw)
    authors = train_block(nets, x, y, rule="authors", cuts=0, stop_loss=-1.0, **kw)
    assert torch.equal(cut.nets.W, fixed.nets.W) and torch.equal(cut.steps, fixed.steps)
    assert bool(authors.stopped_by_rule.any()), "the authors' rule must stop a network whose loss rose"


@needs_kernel
@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-12), (torch.float32, 1e-4)])
def test_compiled_equals_torch_and_a_network_trains_the_same_in_any_block(dtype, atol):
    x, y = data(10, n=200)
    widths = [w for w in (3, 9, 14, 21) for _ in range(5)]      # several groups of lanes, ragged widths
    nets = init_nets(widths, 10, list(range(len(widths))), dtype=dtype)
    kw = dict(lr=0.5, batch_size=50, steps=30, rule="none")
    c = train_block(nets, x, y, engine="compiled", threads=2, **kw)
    t = train_block(nets, x, y, engine="torch", **kw)
    torch.testing.assert_close(c.nets.W, t.nets.W, rtol=0, atol=atol)
    torch.testing.assert_close(c.loss, t.loss, rtol=0, atol=atol)
    alone = train_block(one(nets, 7), x, y, engine="compiled", threads=1, **kw)
    assert torch.equal(alone.nets.W, c.nets.network(7)[0]), "a lane's numbers must not depend on its neighbours"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_network_at_exactly_zero_loss_stops_and_its_result_is_that_of_the_full_run(engine):
    x, y = data(10, n=200)
    nets = init_nets([5, 4], 10, [3, 4], dtype=torch.float64)
    f = outputs(nets, x)[0]
    keep = f.abs() > 1e-2
    x, y = x[keep], torch.sign(f[keep])                      # network 0 labels the data itself ...
    big = Nets(nets.W.clone(), nets.a.clone(), nets.widths)
    big.a[:5] *= 2.0 / float(f[keep].abs().min())            # ... with every margin y f ≥ 2 > τ: loss exactly 0
    kw = dict(lr=0.5, batch_size=25, steps=400)
    r = train_block(big, x, y, rule="none", zero_every=100, engine=engine, **kw)
    assert r.converged.tolist() == [True, False] and r.steps.tolist() == [0, 400]
    assert float(r.loss[0]) == 0.0 and not bool(r.changing[0])
    assert torch.equal(r.nets.network(0)[0], big.network(0)[0])
    ref = train_onehidden(one(big, 0), x, y, stop_loss=-math.inf, check_every=401, **kw)
    assert int(ref.steps[0]) == 400 and torch.equal(ref.nets.W, big.network(0)[0]), "zero loss: zero gradient"
    assert r.net_steps == 400


def test_the_loss_at_the_mark_is_that_of_a_run_stopped_there_and_changing_follows_from_it():
    x, y = data(10)
    nets = init_nets([6, 3, 8], 10, [1, 2, 3], dtype=torch.float64)
    kw = dict(lr=[0.3, 2.0, 1.0], batch_size=40, rule="none", engine="torch")
    r = train_block(nets, x, y, steps=[200, 100, 50], settle_tol=0.05, **kw)
    short = train_block(nets, x, y, steps=[180, 90, 45], **kw)       # cap − cap // 10
    torch.testing.assert_close(r.loss_at_mark, short.loss.double(), rtol=1e-12, atol=0)
    change = (r.loss.double() - r.loss_at_mark).abs() / r.loss_at_mark
    assert r.changing.tolist() == (change > 0.05).tolist()


def test_bad_input_gets_a_clear_error_before_any_step(monkeypatch):
    def no_run(*args, **kwargs):
        raise AssertionError("a kernel started before the input was checked")

    monkeypatch.setattr(block._Torch, "run", no_run)
    monkeypatch.setattr(block._Compiled, "run", no_run)
    monkeypatch.setattr(block._Torch, "full_loss", no_run)
    monkeypatch.setattr(block._Compiled, "full_loss", no_run)
    x, y = data(10)
    nets = init_nets([3, 4], 10, [1, 2], dtype=torch.float64)
    kw = dict(lr=0.1, batch_size=10, steps=10)
    cases = [
        (dict(x=x[:, :9]), r"need x: \(n, 10\)"),
        (dict(y=y[:-1]), r"need x: \(n, 10\)"),
        (dict(y=(y > 0).double()), "labels y must be ±1"),
        (dict(rule="sgd"), r"unknown rule\(s\) \['sgd'\]"),
        (dict(rule=["none"]), "one rule or one per network"),
        (dict(lr=[0.1, 0.2, 0.3]), r"lr: need a number or one value per network \(2\)"),
        (dict(tau=0.0), "tau > 0"),
        (dict(steps=[10, 2.5]), "whole steps"),
        (dict(output="avg"), "choose 'sum' or 'mean'"),
        (dict(batch_size=0), "batch_size"),
        (dict(engine="numba"), "choose 'auto', 'compiled' or 'torch'"),
    ]
    for change, match in cases:
        args = dict(x=x, y=y, **kw) | change
        with pytest.raises(ValueError, match=match):
            train_block(nets, args.pop("x"), args.pop("y"), **args)
    with pytest.raises(ValueError, match="CPU float32/float64"):
        train_block(Nets(nets.W.bfloat16(), nets.a.bfloat16(), nets.widths), x, y, engine="compiled", **kw)
    with pytest.raises(ValueError, match="widths"):
        train_block(Nets(nets.W, nets.a[:-1], nets.widths), x, y, **kw)


def test_without_a_compiler_the_block_trains_with_torch(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    block._library.cache_clear()
    try:
        assert not block.available() and "no C compiler" in block.why_unavailable()
        x, y = data(10)
        nets = init_nets([3, 4], 10, [1, 2], dtype=torch.float64)
        r = train_block(nets, x, y, lr=1.0, batch_size=20, steps=50)
        assert r.engine == "torch" and int(r.steps.max()) <= 50
        with pytest.raises(ValueError, match="no C compiler"):
            train_block(nets, x, y, lr=1.0, batch_size=20, steps=50, engine="compiled")
    finally:
        block._library.cache_clear()


def test_benchmark_counts_and_rates():
    b = block.benchmark(widths=[3, 5], S=4, steps=40, old_steps=10, n=200, d=10)
    for key in ("block", "onehidden_block", "per_width", "torch_block"):
        assert b[f"{key}_net_steps_per_s"] > 0 and b[f"{key}_gflops"] > 0
    assert b["networks"] == 8 and b["units"] == 32
    assert b["flop_per_net_step"] == pytest.approx(4 * 100 * 11 * 32 / 8)
