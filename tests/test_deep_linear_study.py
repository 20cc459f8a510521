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


def test_gamma_above_sigma_dmin_cuts_into_the_kept_values_and_the_gap_stays_zero():
    X, Y = dl.gaussian_instance(6, 1)
    s = np.linalg.svd(Y, compute_uv=False)
    assert study.sigma_dmin(Y, 3) == pytest.approx(s[2])
    gdm = study.gamma_dmin_sweep(6, [1.5], depth=3, instance_seed=1, seed=0, width_ratio=0.5, restarts=4, steps=400,
                                 device="cpu")
    c = gdm[1.5]
    assert c.gamma == pytest.approx(1.5 * s[2]) and c.gamma > c.sigma_min        # far outside Theorem 2's γ < σ_min
    rank = np.linalg.matrix_rank(dl.closed_form_solution(X, Y, c.gamma, 3), tol=1e-9)
    assert rank == int(np.sum(s[:3] > c.gamma)) < 3                              # the threshold removed a kept value
    assert c.rel("dual") <= 1e-4 and c.rel("primal") <= 1e-4                     # and still no gap
    with pytest.raises(ValueError, match="between 1 and"):
        study.sigma_dmin(Y, 7)
