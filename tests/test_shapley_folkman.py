import numpy as np
import pytest
import torch

from companion.convexity.tropical import max_plus_convolve, min_plus_convolve
from companion.convexity.shapley_folkman import (
    distance_to_downset,
    hausdorff_points,
    hausdorff_to_hull,
    lp_profile,
    minkowski_average_points,
    minkowski_profiles,
    minkowski_study,
    profile_polygon,
    sampled_outside,
    starr_bound,
    upper_concave_envelope,
)


def test_maxplus_step_matches_brute_force():
    rng = np.random.default_rng(0)
    G, g = rng.normal(size=7), rng.normal(size=4)
    brute = [max(G[j - i] + g[i] for i in range(4) if 0 <= j - i < 7) for j in range(10)]
    fast = max_plus_convolve(torch.tensor(G), torch.tensor(g), max_elements=8)  # forces several chunks
    np.testing.assert_allclose(fast.numpy(), brute)
    brute_min = [min(G[j - i] + g[i] for i in range(4) if 0 <= j - i < 7) for j in range(10)]
    np.testing.assert_allclose(min_plus_convolve(torch.tensor(G), torch.tensor(g)).numpy(), brute_min)


@pytest.mark.parametrize("I", [2, 3])
def test_dp_profile_equals_brute_force_on_grid(I):
    """G_I(k/N) = max over grid decompositions, enumerated exhaustively."""
    N = 8
    g = lp_profile(0.5, N).numpy()
    grids = np.array(np.meshgrid(*[np.arange(N + 1)] * I, indexing="ij")).reshape(I, -1)
    sums, vals = grids.sum(0), g[grids].sum(0)
    brute = np.array([vals[sums == j].max() for j in range(I * N + 1)]) / I
    np.testing.assert_allclose(minkowski_profiles(torch.tensor(g), I)[I - 1].numpy(), brute, atol=1e-12)


def test_profiles_non_increasing_and_nested_in_hull():
    profs = minkowski_profiles(lp_profile(0.5, 50), 6)
    for I, pr in enumerate(profs, 1):
        assert pr.shape == (I * 50 + 1,)
        assert torch.all(torch.diff(pr) <= 1e-12)
        x = torch.linspace(0, 1, pr.numel(), dtype=pr.dtype)
        assert torch.all(pr <= 1 - x + 1e-12)  # the average lies inside the l1 ball


def test_hull_of_lhalf_ball_is_l1_ball():
    x = np.linspace(0, 1, 101)
    hx, hy = upper_concave_envelope(x, lp_profile(0.5, 100).numpy())
    np.testing.assert_allclose(hx, [0, 1])
    np.testing.assert_allclose(hy, [1, 0])
    # a concave profile is its own envelope
    y = np.sqrt(1 - x**2)
    hx, hy = upper_concave_envelope(x, y)
    assert len(hx) == len(x)


@pytest.mark.parametrize("I", [1, 2, 3, 7])
def test_hausdorff_matches_closed_form_within_resolution(I):
    profs = minkowski_profiles(lp_profile(0.5, 200), I)
    r = hausdorff_to_hull(profs[-1], np.array([0.0, 1.0]), np.array([1.0, 0.0]), n_face=1001)
    exact = np.sqrt(2) / 4 / I
    assert abs(r.distance - exact) <= r.resolution
    assert r.distance <= starr_bound(I)


def test_window_search_equals_full_search():
    profs = minkowski_profiles(lp_profile(0.5, 60), 4)
    P = torch.rand(2000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 1.2
    for pr in profs:
        K = pr.numel() - 1
        b = torch.stack([torch.linspace(0, 1, K + 1, dtype=pr.dtype), pr], 1)
        full = torch.linalg.vector_norm((P[:, None] - b[None]).clamp_min(0), dim=2).amin(1)
        torch.testing.assert_close(distance_to_downset(P, pr, chunk=300), full, rtol=0, atol=0)


def test_profile_method_agrees_with_finite_point_brute_force():
    """Minkowski average of a fine point sample of A ≈ the DP set, in Hausdorff distance."""
    N = 24
    x = np.linspace(0, 1, N + 1)
    g = lp_profile(0.5, N).numpy()
    # points of A ∩ Q1 on the grid, down to the axes: the exact grid set the DP works with
    pts = np.array([(xi, yi) for xi, gi in zip(x, g) for yi in np.linspace(0, gi, 9)])
    avg = minkowski_average_points(pts, 2)
    avg = avg[avg[:, 0] <= 1 + 1e-12]
    prof = minkowski_profiles(torch.tensor(g), 2)[1]
    # every brute-force average is in the DP set ...
    assert float(distance_to_downset(torch.tensor(avg), prof).max()) < 1e-12
    # ... and the DP boundary is attained by brute-force averages (to the sampling density)
    xb = np.linspace(0, 1, prof.numel())
    boundary = np.stack([xb, prof.numpy()], 1)
    assert hausdorff_points(boundary, avg[np.abs(avg[:, 1] - np.interp(avg[:, 0], xb, prof.numpy())) < 0.05]) < 0.05


def test_polygon_closes_and_is_symmetric():
    poly = profile_polygon(lp_profile(0.5, 10))
    np.testing.assert_allclose(poly[0], poly[-1])
    assert np.abs(poly).max() <= 1 + 1e-12
    assert len(poly) == 4 * 11 + 1
    pts = {tuple(np.round(v, 12)) for v in poly[:-1]}
    for sx, sy in ((-1, 1), (1, -1), (-1, -1)):              # the ℓp ball is symmetric about both axes
        assert {(sx * a + 0.0, sy * b + 0.0) for a, b in pts} == {(a + 0.0, b + 0.0) for a, b in pts}
    # every vertex lies on the unit ℓ_0.5 sphere
    np.testing.assert_allclose(np.sqrt(np.abs(poly[:, 0])) + np.sqrt(np.abs(poly[:, 1])), 1.0, atol=1e-12)


def test_minkowski_study_is_the_pieces_together():
    s = minkowski_study(0.5, 40, 5, n_face=301)
    assert s.Is.tolist() == [1, 2, 3, 4, 5] and len(s.profiles) == 5
    prof = minkowski_profiles(lp_profile(0.5, 40), 5)
    for a, b in zip(s.profiles, prof):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    hx, hy = upper_concave_envelope(np.linspace(0, 1, 41), lp_profile(0.5, 40).numpy())
    direct = hausdorff_to_hull(prof[2], hx, hy, n_face=301)
    assert (s.distance[2], s.resolution[2]) == (direct.distance, direct.resolution)
    np.testing.assert_array_equal(s.closed, np.sqrt(2) / 4 / np.arange(1, 6))
    assert np.all(np.abs(s.distance - s.closed) <= s.resolution + 1e-12)      # the closed form, within resolution
    np.testing.assert_array_equal(s.starr, starr_bound(np.arange(1, 6)))


def test_sampled_outside_is_zero_for_the_set_and_positive_for_a_smaller_one():
    prof = minkowski_profiles(lp_profile(0.5, 200), 10)
    assert sampled_outside(0.5, prof, 200, 0, n_small=40) <= 1e-3             # within the grid's resolution
    shrunk = [0.5 * p for p in prof]                                           # a set that misses most averages
    assert sampled_outside(0.5, shrunk, 200, 0, n_small=40) > 0.05
