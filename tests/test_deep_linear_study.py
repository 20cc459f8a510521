"""The theorem2 chapter's sweeps (companion.duality.deep_linear_study) on tiny instances."""

import numpy as np
import pytest

from companion.duality import deep_linear as dl
from companion.duality import deep_linear_study as study

KW = dict(width_ratio=0.5, restarts=2, steps=200, device="cpu")


def test_hidden_widths():
    assert study.hidden_widths(5, 3, 0.5) == (5, 3, 3, 5)
    assert study.hidden_widths(4, 2, 0.5) == (4, 2, 4)
    assert study.hidden_widths(3, 2, 0.01) == (3, 1, 3)


def test_sweeps_equal_single_comparisons_and_zero_gap():
    fig = study.size_sweep([3, 4], [7, 8], depth=2, gamma_ratio=0.5, **KW)
    X, Y = dl.gaussian_instance(4, 8)
    one = dl.compare(X, Y, 0.5 * dl.sigma_min_nonzero(Y), (4, 2, 4), restarts=2, steps=200, seed=8)
    assert fig[4].closed == one.closed and fig[4].primal == one.primal          # the sweep is the single call
    gam = study.gamma_sweep(4, [0.5, 2.0], depth=2, instance_seed=1, seed=0, **KW)
    assert gam[2.0].gamma == pytest.approx(4 * gam[0.5].gamma)
    dep = study.depth_sweep(4, [2, 3], gamma_ratio=0.5, instance_seed=1, seed=0, **KW)
    assert dep[2].gamma == gam[0.5].gamma                                      # the same instance
    for c in [*fig.values(), *gam.values(), *dep.values()]:
        assert c.rel("dual") <= 1e-4                                           # zero gap, inside and past σ_min
    t = study.comparison_table({f"H = {h}": c for h, c in dep.items()}, restarts=2)
    assert list(t.index) == ["H = 2", "H = 3"]
    np.testing.assert_array_equal(t["closed form"], [dep[2].closed, dep[3].closed])
    with pytest.raises(ValueError, match="one seed per size"):
        study.size_sweep([3, 4], [7], depth=2, gamma_ratio=0.5, **KW)
