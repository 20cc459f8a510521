"""The τ-hinge and multi-class hinge losses against their definitions."""

import numpy as np
import pytest
import torch

from companion.core.data import synthetic_teacher
from companion.training.losses import multiclass_hinge, tau_hinge
from companion.training.nets import flatten, forward, init_branches, n_parameters
from companion.training.train import batch_indices, init_padded, train_sequential, train_sgd


def test_losses_against_definitions():
    f = torch.tensor([[2.0, -0.5, 0.2]])
    y = torch.tensor([1.0, 1.0, -1.0])
    assert tau_hinge(f, y).item() == pytest.approx((0 + 1.5 + 1.2) / 3)
    assert tau_hinge(f, y, tau=2.0).item() == pytest.approx((0 + 1.25 + 1.1) / 3)
    with pytest.raises(ValueError):
        tau_hinge(f, y, tau=0)
    F = torch.randn(4, 6, 10)
    Y = torch.randint(0, 10, (6,))
    ref = torch.stack([torch.nn.functional.multi_margin_loss(F[b], Y) for b in range(4)])
    torch.testing.assert_close(multiclass_hinge(F, Y), ref)
