"""The trainer's weight decay, the authors' protocol (their rule, biases, PyTorch's default init, f = mean of
branches) against a plain torch transcription of their ``train_model``, and biases as constant units."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from companion.losses import multiclass_hinge
from companion.nets import forward, init_default, trainable_masks, with_ones
from companion.schedule import authors_rule_loop
from companion.train import epoch_order, train_sgd
from companion.data import synthetic_teacher
from companion.losses import tau_hinge
from companion.nets import flatten, init_branches
from companion.train import batch_indices, init_padded, train_sequential


class Model(nn.Module):
    """The authors' model (fully_connected.py): branches Linear → ReLU → Linear, outputs averaged."""

    def __init__(self, input_size, n_paths, hidden_size, n_classes):
        super().__init__()
        self.paths = nn.ModuleList(nn.Sequential(nn.Linear(input_size, hidden_size), nn.ReLU(),
                                                 nn.Linear(hidden_size, n_classes)) for _ in range(n_paths))

    def forward(self, x):
        return torch.stack([p(x) for p in self.paths], 1).mean(1)


def to_module(layers, s):
    """Network s of ``init_default`` layers (one hidden layer, with biases) as the authors' Model."""
    W1, W2 = layers
    I, h1, d1 = W1.shape[1:]
    m = Model(d1 - 1, I, h1 - 1, W2.shape[2]).double()
    with torch.no_grad():
        for i, p in enumerate(m.paths):
            p[0].weight.copy_(W1[s, i, :-1, :-1]); p[0].bias.copy_(W1[s, i, :-1, -1])
            p[2].weight.copy_(W2[s, i, :, :-1]); p[2].bias.copy_(W2[s, i, :, -1])
    return m


def module_params(m):
    """The module's parameters in our layout (without the constant unit's row): (W1 | b1), (W2 | b2) per branch."""
    W1 = torch.stack([torch.cat([p[0].weight, p[0].bias[:, None]], 1) for p in m.paths])
    W2 = torch.stack([torch.cat([p[2].weight, p[2].bias[:, None]], 1) for p in m.paths])
    return W1, W2


def data(n=23, d=4, C=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randint(0, C, (n,), generator=g)


def test_biases_as_constant_units_equal_a_module_with_biases():
    L = init_default(2, 3, (4, 5, 3), seed=[7, 8], device="cpu", dtype=torch.float64)
    x, _ = data()
    out = forward(L, with_ones(x), scale="mean")
    for s in range(2):
        torch.testing.assert_close(out[s], to_module(L, s)(x))
    # deeper branches: each hidden layer's constant unit carries the next layer's bias
    D = init_default(1, 2, (4, 3, 2, 3), seed=1, device="cpu", dtype=torch.float64)
    ref = 0
    for i in range(2):
        h = x
        for l, W in enumerate(D):
            Wi = W[0, i] if l == len(D) - 1 else W[0, i, :-1]
            h = h @ Wi[:, :-1].T + Wi[:, -1]
            h = torch.relu(h) if l < len(D) - 1 else h
        ref = ref + h / 2
    torch.testing.assert_close(forward(D, with_ones(x), scale="mean")[0], ref)


def test_default_init_is_pytorch_uniform():
    L = init_default(1, 200, (50, 8, 10), seed=0, device="cpu", dtype=torch.float64)
    W1, W2 = L
    real1 = W1[..., :-1, :]                                   # weights and biases of layer 1 (fan-in 50)
    assert float(real1.abs().max()) <= 1 / np.sqrt(50) and float(W2.abs().max()) <= 1 / np.sqrt(8)
    assert float(real1.std()) == pytest.approx(1 / np.sqrt(50) / np.sqrt(3), rel=0.02)     # U(−b, b): std b/√3
    const = torch.zeros(51, dtype=torch.float64); const[-1] = 1
    assert torch.equal(W1[0, :, -1], const.expand(200, 51))   # the constant unit's frozen row
    m = trainable_masks(L)
    assert float(m[0][..., -1, :].abs().sum()) == 0 and float(m[0][..., :-1, :].min()) == 1 and float(m[1].min()) == 1


@pytest.mark.parametrize("batch_size", [None, 8])
def test_weight_decay_equals_torch_sgd(batch_size):
    """check_full with weight decay and no cuts (they never trigger at a tiny rate over few steps) against
    torch.optim.SGD(weight_decay=…) on the same batches."""
    x, y = data()
    L = init_default(1, 3, (4, 5, 3), seed=3, device="cpu", dtype=torch.float64)
    steps, lr, wd = 30, 0.05, 0.3
    r = train_sgd(L, with_ones(x), y, multiclass_hinge, steps=steps, lr=lr, seeds=[5], weight_decay=wd,
                  batch_size=batch_size, check_every=1000, trainable=trainable_masks(L), scale="mean",
                  batches="epochs", stop_loss=-1.0)
    m = to_module(L, 0)
    opt = torch.optim.SGD(m.parameters(), lr=lr, weight_decay=wd)
    B = batch_size or len(y)
    for step in range(steps):
        e, p = divmod(step, -(-len(y) // B))
        idx = epoch_order(torch.tensor([5]), e, len(y))[0, p * B:(p + 1) * B]
        opt.zero_grad()
        F.multi_margin_loss(m(x[idx]), y[idx]).backward()
        opt.step()
    W1, W2 = module_params(m)
    torch.testing.assert_close(r.layers[0][0, :, :-1], W1)
    torch.testing.assert_close(r.layers[1][0], W2)
    assert torch.equal(r.layers[0][0, :, -1], L[0][0, :, -1])            # the constant unit did not move
    assert float((r.layers[1][0] - L[1][0]).abs().max()) > 1e-3            # the rest did


def train_model_transcribed(m, x, y, *, lr, weight_decay, batch_size, n_epochs, seed, check_every):
    """The authors' ``train_model`` loop: their model steps, with their rate and stopping rule taken from the
    plain transcription ``schedule.authors_rule_loop`` (replayed on the losses so far, plus a sentinel ∞ that
    stops it at once if nothing else did). Two changes: the shuffle is ours (epoch_order: their
    np.random.shuffle cannot be matched) and their hard-coded 100 is ``check_every``."""
    optim = torch.optim.SGD(m.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    for epoch in range(n_epochs):
        order = epoch_order(torch.tensor([seed]), epoch, x.shape[0])[0]
        for st in range(0, x.shape[0], batch_size):
            idx = order[st:st + batch_size]
            loss = F.multi_margin_loss(m(x[idx]), y[idx])
            losses.append(loss.item())
            optim.zero_grad()
            loss.backward()
            optim.step()
            rates, taken = authors_rule_loop(losses + [math.inf], lr, check_every=check_every)
            if taken <= len(losses):                       # the rule stopped at a real step
                return len(losses), rates[-1]
            optim.param_groups[0]["lr"] = rates[-1]        # the rate for the next step
    return len(losses), optim.param_groups[0]["lr"]


def test_authors_protocol_equals_their_loop():
    """Four networks with their own rates and decays in one batch, each against the transcribed loop. The
    large rates make the minibatch loss rise, so cuts and the stop after three cuts are exercised."""
    x, y = data(n=23)
    seeds, lrs, wds = [11, 12, 13, 14], [3.0, 0.5, 3.0, 0.05], [0.0, 1e-3, 0.1, 0.0]
    L = init_default(4, 3, (4, 5, 3), seed=seeds, device="cpu", dtype=torch.float64)
    n_epochs, B, every = 40, 5, 3
    r = train_sgd(L, with_ones(x), y, multiclass_hinge, steps=n_epochs * 5, lr=lrs, seeds=seeds, weight_decay=wds,
                  batch_size=B, check_every=every, trainable=trainable_masks(L), scale="mean", rule="authors")
    cuts = []
    for s in range(4):
        m = to_module(L, s)
        steps, lr_end = train_model_transcribed(m, x, y, lr=lrs[s], weight_decay=wds[s], batch_size=B,
                                                n_epochs=n_epochs, seed=seeds[s], check_every=every)
        W1, W2 = module_params(m)
        torch.testing.assert_close(r.layers[0][s, :, :-1], W1)
        torch.testing.assert_close(r.layers[1][s], W2)
        assert int(r.steps[s]) == steps and float(r.lr[s]) == pytest.approx(lr_end)
        cuts.append(round(np.log10(lrs[s] / lr_end)))
    assert max(cuts) == 3 and min(int(t) for t in r.steps) < n_epochs * 5   # a network was cut thrice and stopped


def test_bad_settings_are_refused():
    x, y = data()
    L = init_default(2, 2, (4, 3, 3), seed=0, device="cpu", dtype=torch.float64)
    with pytest.raises(ValueError, match="unknown rule"):
        train_sgd(L, with_ones(x), y, multiclass_hinge, steps=1, lr=0.1, seeds=[0, 1], rule="theirs")
    with pytest.raises(ValueError, match="one value per network"):
        train_sgd(L, with_ones(x), y, multiclass_hinge, steps=1, lr=[0.1, 0.2, 0.3], seeds=[0, 1])


# ---- from the former test_engines.py ----------------------------------------

def test_batch_indices_are_per_network_and_in_range():
    a = batch_indices(torch.tensor([3, 4]), 7, 50, 100)
    b = batch_indices(torch.tensor([4]), 7, 50, 100)
    assert a.shape == (2, 50) and int(a.min()) >= 0 and int(a.max()) < 100
    assert torch.equal(a[1], b[0]) and not torch.equal(a[0], a[1])


@pytest.mark.parametrize("batch_size", [None, 32])
def test_batched_training_equals_single_seed_training(batch_size):
    ds = synthetic_teacher(n=120, d=4, hidden=3, seed=0)
    seeds = [11, 12, 13]
    L = init_branches(3, 5, (4, 1, 1), seed=seeds, device="cpu", dtype=torch.float64)
    kw = dict(steps=60, lr=0.5, check_every=20, batch_size=batch_size, stop_loss=0.0)
    batched = train_sgd(L, ds.x, ds.y, tau_hinge, seeds=seeds, **kw)
    single = train_sequential(L, ds.x, ds.y, tau_hinge, seeds=seeds, **kw)
    for s in range(3):
        for W, Ws in zip(batched.layers, single[s].layers):
            torch.testing.assert_close(W[s:s + 1], Ws, rtol=1e-10, atol=1e-12)
    # and a network initialised alone is the same as in a batch
    alone = init_branches(1, 5, (4, 1, 1), seed=[12], device="cpu", dtype=torch.float64)
    torch.testing.assert_close(alone[0][0], L[0][1])


def test_padding_and_compaction_do_not_change_a_network():
    ds = synthetic_teacher(n=200, d=5, hidden=3, seed=1)
    layers, mask = init_padded([3, 6], (5, 1, 1), seeds=[1, 2], device="cpu", dtype=torch.float64)
    assert float(mask[0].sum()) == 3 and float(layers[0][0, 3:].abs().sum()) == 0
    r = train_sgd(layers, ds.x, ds.y, tau_hinge, steps=300, lr=1.0, seeds=[1, 2], check_every=25, mask=mask,
                  stop_loss=0.02)
    assert float(r.layers[0][0, 3:].abs().sum()) == 0            # padded branches stay zero
    narrow = init_branches(1, 3, (5, 1, 1), seed=[1], device="cpu", dtype=torch.float64)
    r1 = train_sgd(narrow, ds.x, ds.y, tau_hinge, steps=300, lr=1.0, seeds=[1], check_every=25, stop_loss=0.02)
    torch.testing.assert_close(r.layers[0][0, :3], r1.layers[0][0], rtol=1e-9, atol=1e-12)
    assert int(r.steps[0]) == int(r1.steps[0])


def test_lr_is_cut_when_the_loss_rises():
    """check_full: ×lr_cut exactly when the full-data loss rose since the last check, and never otherwise."""
    ds = synthetic_teacher(n=100, d=3, hidden=2, seed=0)
    L = init_branches(2, 4, (3, 1, 1), seed=0, device="cpu", dtype=torch.float64)
    r = train_sgd(L, ds.x, ds.y, tau_hinge, steps=200, lr=[1e4, 1e-3], seeds=[0, 1], check_every=10, stop_loss=0.0)
    hist = r.history.numpy()
    rises = int((np.diff(hist[:, 0]) > 0).sum())
    assert rises >= 1 and float(r.lr[0]) == pytest.approx(1e4 * 0.1**rises, rel=1e-12)
    assert (np.diff(hist[:, 1]) <= 0).all() and float(r.lr[1]) == 1e-3      # the loss never rose: no cut
