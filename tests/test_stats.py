"""Wilson intervals and Spearman's ρ against known values."""

import numpy as np
import pytest
import torch

from companion.core.data import synthetic_teacher
from companion.training.losses import multiclass_hinge, tau_hinge
from companion.training.nets import flatten, forward, init_branches, n_parameters
from companion.training.train import batch_indices, init_padded, train_sequential, train_sgd


def test_wilson_interval_and_spearman():
    from companion.core.stats import spearman, wilson_interval

    lo, hi = wilson_interval(np.array([0, 50, 100]), 100)
    assert lo[0] < 1e-12 and 0 < hi[0] < 0.05 and lo[1] < 0.5 < hi[1] and hi[2] == 1 and 0.95 < lo[2] < 1
    np.testing.assert_allclose([lo[1], hi[1]], [0.4038, 0.5962], atol=1e-4)    # the textbook value
    assert spearman(np.arange(5), np.arange(5) ** 2)[0] == pytest.approx(1.0)
    assert spearman(np.arange(5), np.ones(5)) == (0.0, 1.0)
    L = init_branches(1, 100, (3, 1, 1), seed=0, device="cpu", parametrization="mean")
    assert 0.7 < float(L[-1].std()) < 1.3                            # O(1) output weights for f = (1/I)Σ f_i
