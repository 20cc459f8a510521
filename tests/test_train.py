"""The trainer's weight decay, the authors' protocol (their rule, biases, PyTorch's default init, f = mean of
branches) against a plain torch transcription of their ``train_model``, and biases as constant units."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from companion.training.losses import multiclass_hinge
from companion.training.nets import forward, init_default, trainable_masks, with_ones
from companion.training.schedule import authors_rule_loop
from companion.training.train import epoch_order, train_sgd
from companion.core.data import synthetic_teacher
from companion.training.losses import tau_hinge
from companion.training.nets import flatten, init_branches
from companion.training.train import batch_indices, init_padded, train_sequential


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


# ---- the refactored trainer equals the one it replaced ------------------------------------------------------

def _fingerprint(layers):
    """Two numbers per layer: Σ|W| and a position-weighted Σ W (any moved or changed entry shows)."""
    fp = []
    for W in layers:
        c = torch.linspace(-1.0, 2.0, W.numel(), dtype=torch.float64).reshape(W.shape)
        fp += [float(W.double().abs().sum()), float((W.double() * c).sum())]
    return fp


def _pinned_cases():
    """Both rules, hash and epoch batches, per-network rates and decay, trainable masks, padding masks,
    branch chunks, float32, and networks stopping (compaction) — train_sgd on each."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(37, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (37,), generator=g)
    L = init_default(4, 3, (4, 5, 3), seed=[11, 12, 13, 14], device="cpu", dtype=torch.float64)
    yield "authors", train_sgd(L, with_ones(x), y, multiclass_hinge, steps=150, lr=[3.0, 0.5, 3.0, 0.05],
                               seeds=[11, 12, 13, 14], weight_decay=[0.0, 1e-3, 0.1, 0.0], batch_size=5,
                               check_every=3, trainable=trainable_masks(L), scale="mean", rule="authors")
    ds = synthetic_teacher(n=200, d=5, hidden=3, seed=1)
    layers, mask = init_padded([3, 6, 4, 5], (5, 2, 1), seeds=[1, 2, 3, 4], device="cpu", dtype=torch.float64)
    yield "padded", train_sgd(layers, ds.x, ds.y, tau_hinge, steps=300, lr=[1.0, 2.0, 0.5, 1.0], seeds=[1, 2, 3, 4],
                              check_every=25, mask=mask, stop_loss=0.05, batch_size=32, weight_decay=1e-3, compact=0.9)
    L = init_branches(3, 7, (5, 3, 2, 1), seed=[5, 6, 7], device="cpu", dtype=torch.float64, parametrization="mean")
    yield "chunked", train_sgd(L, ds.x, ds.y, tau_hinge, steps=120, lr=3.0, seeds=[5, 6, 7], check_every=10,
                               stop_loss=0.2, batch_size=50, branch_chunk=3, scale="mean")
    yield "fullbatch_f32", train_sgd([W.float() for W in L], ds.x.float(), ds.y.float(), tau_hinge, steps=80,
                                     lr=[10.0, 1.0, 0.1], seeds=[5, 6, 7], check_every=7, stop_loss=0.0)
    yield "authors_hash_chunk", train_sgd(L, ds.x, ds.y, tau_hinge, steps=90, lr=[5.0, 1.0, 0.2], seeds=[5, 6, 7],
                                          check_every=4, batch_size=16, branch_chunk=2, rule="authors",
                                          batches="hash", scale="mean", weight_decay=0.01)
    yield "no_stop", train_sgd(L, ds.x, ds.y, tau_hinge, steps=60, lr=[2.0, 1.0, 0.5], seeds=[5, 6, 7], check_every=20,
                               batch_size=40, stop_loss=0.0, scale="mean")   # the last check's loss is the final one


#: (fingerprint of the final weights, final losses, steps taken, final rates) per case, recorded with the
#: trainer before it was split (commit aa2df57, one 103-line train_sgd). On the machine where they were
#: recorded the split trainer reproduced every weight, loss, step count, rate and history bit for bit
#: (torch.equal); pinned to 1e-10 relative so that another BLAS build passes too.
PINNED = {
    "authors": ([72.08911830790511, 7.803492276828369, 43.30567380171109, -5.532406646010189],
        [0.4360982347615577, 0.6553560484401874, 0.665334295264075, 0.6794908148356806], [150, 150, 150, 42], [0.30000000000000004, 0.0005000000000000001, 0.30000000000000004, 5.0000000000000016e-05]),
    "padded": ([92.35465540890559, 4.586432776330797, 33.306167604930835, 0.3952877834902049],
        [0.051869678181438165, 0.033574305026614064, 0.04728685481233566, 0.039845811990912375], [300, 75, 125, 75], [0.1, 2.0, 0.5, 1.0]),
    "chunked": ([130.4838206968922, -0.2941314051898569, 72.92136241190292, -0.8734891331393833, 40.8722399914028, 3.617829056697298],
        [0.11162786753255388, 0.15057072753212072, 0.18802307824525422], [20, 20, 10], [3.0, 3.0, 3.0]),
    "fullbatch_f32": ([243.72034039441496, -15.606216016498385, 277.9444799271296, 36.0276296536955, 56.83034026250243, 16.24373126447928],
        [1.0, 0.019097721204161644, 0.14837190508842468], [80, 80, 80], [1.0, 1.0, 0.10000000149011612]),
    "authors_hash_chunk": ([80.17028220269506, 0.10042315611159047, 40.96066796805077, -0.9228758875382299, 25.440582775602312, 3.8361791796100606],
        [0.2225865992214186, 0.16870099078545409, 0.4112663859856243], [90, 82, 90], [5.0, 1.0, 0.2]),
    "no_stop": ([134.44350442780225, -1.0458984912379776, 74.85195059044406, -1.8643471363196653, 42.66095531568823, 3.6755401840562048],
        [0.060166095669747024, 0.10974722428751825, 0.17520551784670832], [60, 60, 60], [2.0, 1.0, 0.5]),
}


def test_trainer_reproduces_the_pinned_results():
    seen = set()
    for name, r in _pinned_cases():
        fp, loss, steps, lr = PINNED[name]
        tol = 1e-10 if r.layers[0].dtype == torch.float64 else 1e-6
        assert _fingerprint(r.layers) == pytest.approx(fp, rel=tol), name
        assert r.loss.tolist() == pytest.approx(loss, rel=tol), name
        assert r.steps.tolist() == steps and r.lr.tolist() == pytest.approx(lr, rel=1e-12), name
        seen.add(name)
    assert seen == set(PINNED)


def test_in_place_training_equals_a_copy_and_copies_leave_the_input_alone():
    ds = synthetic_teacher(n=120, d=4, hidden=3, seed=0)
    L = init_branches(4, 6, (4, 3, 1), seed=[1, 2, 3, 4], device="cpu", dtype=torch.float64)
    before = [W.clone() for W in L]
    kw = dict(steps=100, lr=[1.0, 3.0, 0.3, 2.0], seeds=[1, 2, 3, 4], check_every=10, stop_loss=0.1, batch_size=30,
              branch_chunk=4)
    copied = train_sgd(L, ds.x, ds.y, tau_hinge, **kw)
    assert all(torch.equal(W, B) for W, B in zip(L, before))              # the input is untouched
    assert len(set(copied.steps.tolist())) > 1                            # networks stopped at different checks
    inplace = train_sgd(L, ds.x, ds.y, tau_hinge, in_place=True, **kw)
    assert all(W is V for W, V in zip(inplace.layers, L))                 # the result is the input, trained
    for W, V in zip(copied.layers, inplace.layers):
        assert torch.equal(W, V)                                          # rows back in network order


def test_branch_chunks_do_not_change_training():
    """The gradient applied a chunk at a time equals the whole gradient (rounding aside)."""
    ds = synthetic_teacher(n=80, d=4, hidden=3, seed=3)
    L = init_branches(2, 7, (4, 3, 2, 1), seed=[8, 9], device="cpu", dtype=torch.float64)
    kw = dict(steps=40, lr=2.0, seeds=[8, 9], check_every=10, batch_size=20, scale="mean", stop_loss=0.0)
    whole = train_sgd(L, ds.x, ds.y, tau_hinge, **kw)
    for bc in (1, 3):
        chunked = train_sgd(L, ds.x, ds.y, tau_hinge, branch_chunk=bc, **kw)
        for W, V in zip(whole.layers, chunked.layers):
            torch.testing.assert_close(V, W, rtol=1e-12, atol=1e-13)


def test_config_refuses_bad_settings():
    from companion.training.train import SGDConfig

    for bad, msg in ((dict(batches="random"), "unknown batches"), (dict(scale="max"), "unknown scale"),
                     (dict(batch_size=0), "batch_size must be"), (dict(branch_chunk=0), "branch_chunk must be"),
                     (dict(steps=-1), "need steps")):
        with pytest.raises(ValueError, match=msg):
            SGDConfig(**{"steps": 1, "lr": 0.1, **bad})
    c = SGDConfig(steps=1, lr=[0.1, 0.2], rule="authors")
    assert c.lr == (0.1, 0.2) and c.batches == "epochs"
