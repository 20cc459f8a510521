"""The landscape pipeline: a panel trains, spans, evaluates and scores; accuracy."""

import numpy as np
import pytest
import torch

from companion import landscape as ls
from companion.data import synthetic_teacher
from companion.losses import multiclass_hinge, tau_hinge
from companion.nets import flatten, forward, init_branches, n_parameters
from companion.train import batch_indices, init_padded, train_sequential, train_sgd


def test_landscape_panel_and_accuracy():
    from companion.landscape_pipeline import accuracy, landscape_panel

    ds = synthetic_teacher(n=150, d=4, hidden=3, seed=2)
    p = landscape_panel(ds.x, ds.y, tau_hinge, I=6, widths=(4, 1, 1), seeds=[1, 2, 3], steps=100, lr=1.0, G=5,
                        bench_G=3, device="cpu", dtype=torch.float64)
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
        landscape_panel(ds.x, ds.y, tau_hinge, I=2, widths=(4, 1, 1), seeds=[1, 2], steps=1, lr=1.0, G=3, device="cpu")
