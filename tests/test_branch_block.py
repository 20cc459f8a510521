"""The hand-written branch block (training/branch_block.py) against the generic autograd path of train.train,
its gradient against finite differences, the engine dispatch, and what the convergence criterion reads."""

import functools

import numpy as np
import pytest
import torch

from companion.core.data import synthetic_teacher
from companion.training import branch_bench, branch_block
from companion.training.losses import multiclass_hinge, tau_hinge
from companion.training.nets import forward, init_branches, init_default, trainable_masks, with_ones
from companion.training.train import SGDConfig, choose_engine, init_padded, train_sgd


def _case(loss: str, bias: bool, S: int = 4, I: int = 3, h: int = 4, d: int = 5, n: int = 37, seed: int = 0):
    """(layers, x, y, loss_fn, trainable) of S small networks: 3 classes (multi-margin) or ±1 labels (τ-hinge)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    if loss == "tau":
        y, fn, out = torch.where(x[:, 0] + 0.3 * x[:, 1] > 0, 1.0, -1.0).double(), functools.partial(tau_hinge, tau=0.7), 1
    else:
        y, fn, out = torch.randint(0, 3, (n,), generator=g), multiclass_hinge, 3
    seeds = list(range(11, 11 + S))
    if bias:
        L = init_default(S, I, (d, h, out), seed=seeds, dtype=torch.float64)
        return L, with_ones(x), y, fn, trainable_masks(L)
    return init_branches(S, I, (d, h, out), seed=seeds, dtype=torch.float64, parametrization="mean"), x, y, fn, None


RULES = [dict(rule="authors", batch_size=5, check_every=3, steps=150),
         dict(rule="check_full", batch_size=8, check_every=10, steps=120, stop_loss=0.05),
         dict(rule="check_full", batch_size=None, check_every=7, steps=100, stop_loss=0.02),
         dict(rule="authors", batch_size=16, batches="hash", check_every=4, steps=90)]


@pytest.mark.parametrize("first_layer", ["primal", "dual"])
@pytest.mark.parametrize("rule", range(len(RULES)))
@pytest.mark.parametrize("loss", ["tau", "multi"])
@pytest.mark.parametrize("bias", [True, False])
def test_block_equals_the_generic_path(rule, loss, bias, first_layer):
    """Same batches, rule, stops, rates and history; weights equal to float64 rounding. Per-network rates (large
    ones, so the rules cut and stop) and decays; 'mean' with biases, 'sum' without; both representations of the
    first layer."""
    L, x, y, fn, masks = _case(loss, bias)
    kw = dict(RULES[rule], lr=[3.0, 0.5, 2.0, 0.05], weight_decay=[0.0, 1e-3, 0.1, 0.0], seeds=[1, 2, 3, 4],
              trainable=masks, scale="mean" if bias else "sum")
    ref = train_sgd(L, x, y, fn, engine="generic", **kw)
    new = train_sgd(L, x, y, fn, first_layer=first_layer, **kw)
    assert ref.engine == "generic" and new.engine == "block"
    assert new.steps.tolist() == ref.steps.tolist()
    assert new.stopped_by_rule.tolist() == ref.stopped_by_rule.tolist()
    torch.testing.assert_close(new.lr, ref.lr, rtol=1e-12, atol=0)
    for a, b in zip(new.layers, ref.layers):
        assert float((a - b).abs().max()) < 1e-11
    torch.testing.assert_close(new.loss, ref.loss, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(new.history, ref.history, rtol=1e-10, atol=1e-12, equal_nan=True)
    if masks is not None:
        assert torch.equal(new.layers[0][:, :, -1], L[0][:, :, -1])          # the constant units did not move
    moved = max(float((a - b).abs().max()) for a, b in zip(new.layers, L))
    assert moved > 1e-2                                                       # training did something


def test_the_cases_exercise_cuts_and_stops():
    """The equality cases are not vacuous: under each rule, rates get cut and networks stop before the cap (so
    the batch is compacted) in some of them."""
    lr0 = torch.tensor([3.0, 0.5, 2.0, 0.05], dtype=torch.float64)
    seen = {"authors": [False, False], "check_full": [False, False]}
    for kw in RULES:
        for loss in ("tau", "multi"):
            L, x, y, fn, masks = _case(loss, True)
            r = train_sgd(L, x, y, fn, **kw, lr=lr0.tolist(), weight_decay=[0.0, 1e-3, 0.1, 0.0], seeds=[1, 2, 3, 4],
                          trainable=masks, scale="mean")
            got = seen[kw["rule"]]
            got[0] |= bool((r.lr < lr0).any())
            got[1] |= bool((r.stopped_by_rule & (r.steps < kw["steps"])).any())
    assert seen == {"authors": [True, True], "check_full": [True, True]}


def test_float32_and_in_place_agree():
    L, x, y, fn, masks = _case("multi", True)
    L32, x32 = [W.float() for W in L], x.float()
    kw = dict(RULES[0], lr=[3.0, 0.5, 2.0, 0.05], weight_decay=1e-3, seeds=[1, 2, 3, 4], trainable=trainable_masks(L32),
              scale="mean")
    ref = train_sgd(L32, x32, y, fn, engine="generic", **kw)
    copy = train_sgd(L32, x32, y, fn, **kw)
    before = [W.clone() for W in L32]
    inplace = train_sgd(L32, x32, y, fn, in_place=True, **kw)
    assert all(W is V for W, V in zip(inplace.layers, L32))
    assert not torch.equal(L32[0], before[0])
    for a, b, c in zip(copy.layers, inplace.layers, ref.layers):
        assert torch.equal(a, b)
        assert float((a - c).abs().max()) < 1e-4


@pytest.mark.parametrize("bias", [True, False])
def test_dual_in_place_equals_a_copy(bias):
    """The dual first layer formed at the end, in the caller's own tensors (in_place) or in a copy: the same."""
    L, x, y, fn, masks = _case("multi", bias)
    kw = dict(RULES[0], lr=[3.0, 0.5, 2.0, 0.05], weight_decay=[0.0, 1e-3, 0.1, 0.0], seeds=[1, 2, 3, 4],
              trainable=masks, first_layer="dual", scale="mean" if bias else "sum")
    copy = train_sgd(L, x, y, fn, **kw)
    mine = [W.clone() for W in L]
    inplace = train_sgd(mine, x, y, fn, in_place=True, **kw)
    assert all(W is V for W, V in zip(inplace.layers, mine))
    for a, b in zip(copy.layers, inplace.layers):
        assert torch.equal(a, b)
    assert len(set(copy.steps.tolist())) > 1                              # stops reordered the rows on the way


def _trainable_loss(L, x, y, fn, scale):
    """The loss of the networks as a function of their layers (for finite differences)."""
    return fn(forward(L, x, scale=scale), y)


@pytest.mark.parametrize("first_layer", ["primal", "dual"])
@pytest.mark.parametrize("loss,bias", [("tau", False), ("multi", True), ("multi", False), ("tau", True)])
def test_block_gradient_equals_finite_differences(loss, bias, first_layer):
    """One full-batch block step at rate r and decay λ moves each trainable weight by −r(∂loss/∂w + λw); the
    derivative by central differences of the loss (piecewise linear: exact off the kinks)."""
    L, x, y, fn, masks = _case(loss, bias, S=2, I=2, h=2, d=3, n=11, seed=4)
    scale = "mean" if bias else "sum"
    r, lam = torch.tensor([0.3, 0.7], dtype=torch.float64), torch.tensor([0.0, 0.5], dtype=torch.float64)
    block = branch_block.BranchBlock([W.clone() for W in L], x, y, fn, scale=scale, trainable=masks, decay=True,
                                     first_layer=first_layer)
    assert block.dual == (first_layer == "dual")
    before = block.full_loss(2)
    loss_step = block.step(None, r, lam)
    torch.testing.assert_close(loss_step, before)                         # the loss before the step
    after = [W.clone() for W in L]
    block.write_back(after)
    eps = 1e-6
    checked = 0
    for l, W in enumerate(L):
        for pos in np.ndindex(*W.shape):
            s = pos[0]
            if masks is not None and float(masks[l][(0, 0) + pos[2:]]) == 0:
                assert float(after[l][pos]) == float(W[pos])              # frozen: not moved
                continue
            plus, minus = [V.clone() for V in L], [V.clone() for V in L]
            plus[l][pos] += eps
            minus[l][pos] -= eps
            grad = float((_trainable_loss(plus, x, y, fn, scale)[s] - _trainable_loss(minus, x, y, fn, scale)[s])) / (2 * eps)
            expected = float(W[pos]) - float(r[s]) * (grad + float(lam[s]) * float(W[pos]))
            assert float(after[l][pos]) == pytest.approx(expected, rel=1e-7, abs=1e-9), (l, pos)
            checked += 1
    per = [int(m.sum()) for m in masks] if masks else [W.shape[2] * W.shape[3] for W in L]
    assert checked == sum(p * W.shape[0] * W.shape[1] for p, W in zip(per, L))   # every trainable weight


def test_multiclass_gradient_closed_form():
    """One unit, one branch, one example: f = a relu(wᵀx) per class; with every margin violated and the unit
    active, ∂loss/∂a_j = relu(wᵀx)/C for j ≠ y and −(C−1) relu(wᵀx)/C for j = y."""
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    y = torch.tensor([1])
    W0 = torch.tensor([0.5, 0.25], dtype=torch.float64).view(1, 1, 1, 2)
    W1 = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64).view(1, 1, 3, 1)
    block = branch_block.BranchBlock([W0.clone(), W1.clone()], x, y, multiclass_hinge, scale="sum", trainable=None,
                                     decay=False)
    block.step(None, torch.tensor([1.0], dtype=torch.float64), torch.zeros(1, dtype=torch.float64))
    out = [W0.clone(), W1.clone()]
    block.write_back(out)
    z = 1.0                                                                # relu(0.5 + 0.5)
    ga = torch.tensor([z / 3, -2 * z / 3, z / 3], dtype=torch.float64)
    torch.testing.assert_close(out[1].view(3), W1.view(3) - ga)
    gw = (1 / 3 * 0.1 - 2 / 3 * 0.2 + 1 / 3 * 0.3) * x[0]                  # Σ_j ∂loss/∂f_j a_j · x
    torch.testing.assert_close(out[0].view(2), W0.view(2) - gw)


def test_dispatch():
    """auto = block exactly where it applies; generic stays reachable; block where it does not apply raises."""
    L, x, y, fn, masks = _case("multi", True)
    cfg = SGDConfig(steps=1, lr=0.1)
    assert choose_engine(cfg, L, x, fn, trainable=masks) == "block"
    assert choose_engine(SGDConfig(steps=1, lr=0.1, engine="generic"), L, x, fn, trainable=masks) == "generic"
    deep = init_branches(2, 3, (5, 3, 2, 3), seed=0, dtype=torch.float64)
    xs = x[:, :-1]
    assert choose_engine(cfg, deep, xs, fn) == "generic"
    assert choose_engine(cfg, L, x, lambda f, t: multiclass_hinge(f, t)) == "generic"
    assert choose_engine(cfg, L, x, functools.partial(multiclass_hinge, margin=2.0), trainable=masks) == "block"
    assert choose_engine(SGDConfig(steps=1, lr=0.1, branch_chunk=2), L, x, fn, trainable=masks) == "generic"
    odd = [torch.ones(1, 1, *W.shape[2:], dtype=W.dtype) for W in L]
    odd[0][..., 0, 0] = 0
    assert choose_engine(cfg, L, x, fn, trainable=odd) == "generic"
    assert choose_engine(cfg, L, torch.cat([x[:, :-1], 2 * x[:, -1:]], 1), fn, trainable=masks) == "generic"
    padded, mask = init_padded([2, 3], (5, 2, 1), seeds=[1, 2], dtype=torch.float64)
    assert choose_engine(cfg, padded, xs, tau_hinge, mask=mask) == "generic"
    with pytest.raises(ValueError, match="3 layers"):
        choose_engine(SGDConfig(steps=1, lr=0.1, engine="block"), deep, xs, fn)
    with pytest.raises(ValueError, match="unknown engine"):
        SGDConfig(steps=1, lr=0.1, engine="fast")
    with pytest.raises(ValueError, match="padding mask"):
        train_sgd(padded, xs, torch.ones(len(xs), dtype=torch.float64), tau_hinge, steps=1, lr=0.1, seeds=[1, 2],
                  mask=mask, engine="block")


def test_loss_spec():
    assert branch_block.loss_spec(tau_hinge) == branch_block.LossSpec("tau_hinge", 1.0)
    assert branch_block.loss_spec(functools.partial(tau_hinge, tau=0.5)) == branch_block.LossSpec("tau_hinge", 0.5)
    assert branch_block.loss_spec(functools.partial(multiclass_hinge, margin=2)).param == 2.0
    assert branch_block.loss_spec(functools.partial(tau_hinge, 0.5)) is None       # positional: not recognised
    assert branch_block.loss_spec(torch.nn.functional.mse_loss) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_block_equals_generic_on_cuda():
    L, x, y, fn, masks = _case("multi", True)
    Lc, xc, yc, mc = [W.cuda() for W in L], x.cuda(), y.cuda(), [m.cuda() for m in masks]
    kw = dict(RULES[0], lr=[3.0, 0.5, 2.0, 0.05], weight_decay=[0.0, 1e-3, 0.1, 0.0], seeds=[1, 2, 3, 4],
              trainable=mc, scale="mean")
    ref = train_sgd(Lc, xc, yc, fn, engine="generic", **kw)
    new = train_sgd(Lc, xc, yc, fn, **kw)
    assert new.engine == "block" and new.steps.tolist() == ref.steps.tolist()
    for a, b in zip(new.layers, ref.layers):
        assert float((a - b).abs().max()) < 1e-10


def test_benchmark_table():
    df = branch_bench.benchmark({"tiny": branch_bench.BenchShape(3, 4, 6, 2, 3, n=40, batch_size=10)}, steps=3,
                                gemm=1e9, bandwidth=1e9, repeats=1,
                                engines=(("generic", "auto"), ("block", "primal"), ("block", "dual")))
    assert list(df["engine"]) == ["generic", "block primal", "block dual"]
    assert {"net_steps_per_s", "speedup", "gemm_fraction", "bandwidth_fraction", "max_abs_diff"} <= set(df.columns)
    assert 0 < float(df["max_abs_diff"].max()) < 1e-4 and float(df["speedup"].iloc[0]) == 1.0
    assert branch_bench.step_flops(2, 3, 5, 1, 4) == 4 * 2 * 3 * (4 * 5 + 6)


# ---- what the convergence criterion (companion.landscapes.measures.converged) reads ------------------------

def test_history_and_stops_are_recorded_under_the_authors_rule():
    """A real run: under the authors' rule the full-data loss is recorded at every check while a network trains,
    and the rule's stops are flagged (what the landscapes' convergence criterion reads)."""
    ds = synthetic_teacher(n=200, d=5, hidden=3, seed=1)
    L = init_default(3, 10, (5, 2, 1), seed=[1, 2, 3], dtype=torch.float64)
    kw = dict(lr=[0.5, 0.2, 50.0], seeds=[1, 2, 3], batch_size=20, check_every=20, trainable=trainable_masks(L),
              scale="mean", rule="authors")
    r = train_sgd(L, with_ones(ds.x), ds.y, tau_hinge, steps=400, **kw)
    for s in range(3):
        rows = int(r.steps[s]) // 20 + 1
        assert np.isfinite(r.history[:rows, s].numpy()).all()
    assert r.stopped_by_rule.tolist() == (r.steps < 400).tolist()

def test_first_layer_choice():
    assert branch_block.choose_first_layer("auto", n=1000, d=3073) == "dual"
    assert branch_block.choose_first_layer("auto", n=1000, d=11) == "primal"
    assert branch_block.choose_first_layer("auto", n=2000, d=785) == "primal"
    assert branch_block.choose_first_layer("auto", n=1000, d=785) == "dual"
    assert branch_block.choose_first_layer("primal", n=10, d=3073) == "primal"
    with pytest.raises(ValueError, match="unknown first_layer"):
        branch_block.choose_first_layer("kernel", n=1, d=1)
    with pytest.raises(ValueError, match="unknown first_layer"):
        SGDConfig(steps=1, lr=0.1, first_layer="kernel")
    L, x, y, fn, masks = _case("multi", True, n=9)                         # n = 9 ≤ 1.5 (d + 1): dual by default
    r = train_sgd(L, x, y, fn, steps=3, lr=0.1, seeds=[1, 2, 3, 4], trainable=masks, scale="mean")
    b = branch_block.BranchBlock(L, x, y, fn, scale="mean", trainable=masks, decay=False)
    assert r.engine == "block" and b.dual
