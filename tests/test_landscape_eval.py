"""The blocked plane evaluator against the per-point baseline, its benchmark, and its input checks."""

import numpy as np
import pytest
import torch

from companion.landscapes import evaluate as ev, plane as pl
from companion.landscapes import plane_kernel
from companion.training.losses import multiclass_hinge, tau_hinge
from companion.training.nets import init_branches


def random_case(widths, I=9, n=37, seed=0):
    """A plane through three random networks, inputs and labels fitting the output width."""
    L = init_branches(3, I, widths, seed=seed, device="cpu", dtype=torch.float64)
    plane = pl.plane_from_solutions(L)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, widths[0], generator=g, dtype=torch.float64)
    if widths[-1] == 1:
        return plane, x, torch.sign(torch.randn(n, generator=g, dtype=torch.float64)), tau_hinge
    return plane, x, torch.randint(0, widths[-1], (n,), generator=g), multiclass_hinge


@pytest.mark.parametrize("widths", [(5, 1, 1), (6, 3, 4), (6, 3, 2, 4), (4, 3)])
@pytest.mark.parametrize("scale", ["sum", "mean"])
@pytest.mark.parametrize("kw", [{}, dict(example_block=10, max_elements=200, branch_chunk=4),
                                dict(example_block=7, max_elements=50, workers=2),
                                dict(example_block=16, branch_chunk=2, workers=1)])
@pytest.mark.parametrize("engine", ["auto", "torch"])   # auto: compiled for one hidden layer where it builds
def test_blocked_equals_per_point(widths, scale, kw, engine):
    plane, x, y, loss = random_case(widths)
    alphas = np.linspace(-1.3, 0.9, 5)           # a non-square, non-symmetric grid: rows and columns not swapped
    betas = np.linspace(-0.4, 1.7, 4)
    fast = ev.evaluate_fast(plane, x, y, loss, alphas, betas, scale=scale, engine=engine, **kw)
    naive = ev.evaluate_naive(plane, x, y, loss, alphas, betas, scale=scale)
    assert fast.shape == (4, 5)
    assert np.ptp(naive) > 1e-3                   # the surface varies: equality is not trivial
    np.testing.assert_allclose(fast, naive, rtol=1e-10, atol=0)


def test_examples_blocks_that_do_not_divide_n_and_a_one_point_grid():
    plane, x, y, loss = random_case((7, 2, 3), I=13, n=101, seed=3)
    for block, m in [(1, 10**6), (17, 30), (100, 64), (1000, 2**19)]:
        for a, b in [(np.array([0.3]), np.array([-0.2])), (np.linspace(-1, 1, 3), np.linspace(-1, 1, 7))]:
            np.testing.assert_allclose(ev.evaluate_fast(plane, x, y, loss, a, b, example_block=block, max_elements=m),
                                       ev.evaluate_naive(plane, x, y, loss, a, b), rtol=1e-10, atol=0)


@pytest.mark.parametrize("engine", ["auto", "torch"])
def test_float32_is_close_to_float64(engine):
    plane, x, y, loss = random_case((6, 3, 4), I=20, n=200)
    p32 = pl.Plane(*[[W.float() for W in part] for part in (plane.center, plane.d1, plane.d2)], plane.points)
    g = np.linspace(-1, 1, 5)
    f32 = ev.evaluate_fast(p32, x.float(), y, loss, g, g, example_block=64, workers=2, engine=engine)
    np.testing.assert_allclose(f32, ev.evaluate_naive(plane, x, y, loss, g, g), rtol=1e-5)


def test_the_engine_is_compiled_only_where_it_applies():
    one_hidden, deep, linear = (random_case(w)[0] for w in [(5, 3, 2), (5, 3, 3, 2), (5, 2)])
    built = plane_kernel.available()
    assert ev.fast_engine(one_hidden) == ("compiled" if built else "torch")
    assert ev.fast_engine(one_hidden, "torch") == "torch"
    for plane in (deep, linear):
        assert ev.fast_engine(plane) == "torch"
        with pytest.raises(ValueError, match="exactly one hidden layer"):
            ev.fast_engine(plane, "compiled")
    half = pl.Plane(*[[W.bfloat16() for W in part] for part in (one_hidden.center, one_hidden.d1, one_hidden.d2)],
                    one_hidden.points)
    assert ev.fast_engine(half) == "torch"
    with pytest.raises(ValueError, match="choose 'auto', 'torch' or 'compiled'"):
        ev.fast_engine(one_hidden, "numba")


def test_benchmark_plane_on_a_subset_of_points():
    plane, x, y, loss = random_case((5, 2, 3), n=60)
    g = np.linspace(-1, 1, 4)
    fast, b = ev.benchmark_plane(plane, x, y, loss, g, g, naive_points=3, example_block=16)
    np.testing.assert_allclose(fast, ev.evaluate_naive(plane, x, y, loss, g, g), rtol=1e-10)
    assert (b.fast_points, b.naive_points, b.examples) == (16, 3, 60) and b.max_rel_diff < 1e-10
    assert b.speedup == pytest.approx((b.naive_seconds / 3) / (b.fast_seconds / 16))
    assert b.fast_rate == pytest.approx(16 * 60 / b.fast_seconds)
    full = ev.benchmark_plane(plane, x, y, loss, g, g)[1]
    assert full.naive_points == 16 and full.naive_rate == pytest.approx(16 * 60 / full.naive_seconds)
    old = ev.Benchmark(fast_seconds=1.0, naive_seconds=5.0, max_rel_diff=0.0)   # counts not recorded
    assert old.speedup == 5.0


@pytest.mark.parametrize("case", ["mnist", "synthetic"])
def test_benchmark_shapes_small(case):
    b = ev.benchmark_shapes(case, G=3, I=3, n=50, naive_points=2)
    assert b.max_rel_diff < 1e-10 and b.fast_points == 9 and b.naive_points == 2 and b.examples == 50
    assert b.engine == ("compiled" if plane_kernel.available() else "torch")
    with pytest.raises(ValueError, match="choose one of"):
        ev.benchmark_shapes("imagenet")


def test_bad_input_is_named():
    plane, x, y, loss = random_case((5, 2, 3), n=20)
    g = np.linspace(-1, 1, 3)
    with pytest.raises(ValueError, match="choose 'sum' or 'mean'"):
        ev.evaluate_fast(plane, x, y, loss, g, g, scale="avg")
    with pytest.raises(ValueError, match="d = 5"):
        ev.evaluate_fast(plane, x[:, :4], y, loss, g, g)
    with pytest.raises(ValueError, match="one label per row"):
        ev.evaluate_fast(plane, x, y[:5], loss, g, g)
    with pytest.raises(ValueError, match="alphas must be a non-empty 1-D"):
        ev.evaluate_fast(plane, x, y, loss, g[:, None], g)
    with pytest.raises(ValueError, match="example_block must be a positive"):
        ev.evaluate_fast(plane, x, y, loss, g, g, example_block=0)
    with pytest.raises(ValueError, match="workers must be a positive"):
        ev.evaluate_fast(plane, x, y, loss, g, g, workers=0)
    three = init_branches(3, 2, (5, 2, 3), seed=0, device="cpu", dtype=torch.float64)
    with pytest.raises(ValueError, match="one plane"):
        ev.evaluate_fast(pl.Plane(three, three, three, np.zeros((0, 2))), x, y, loss, g, g)


def test_torch_thread_count_is_restored():
    plane, x, y, loss = random_case((5, 2, 3), n=40)
    before = torch.get_num_threads()
    ev.evaluate_fast(plane, x, y, loss, np.zeros(2), np.zeros(2), example_block=8, workers=2)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("widths, I", [((16, 8, 8, 8, 10), 300), ((8, 8, 10), 600)])
@pytest.mark.parametrize("engine", ["auto", "torch"])
def test_bit_identical_run_to_run_and_for_any_workers(widths, I, engine):
    # float32 with many branches, where a product's summation order shows. Workers compute every block
    # single-threaded (from their first product on): bit-identical run to run and for any workers > 1, whatever
    # torch's thread count, and equal to one worker when torch has one thread; one worker on torch's threads
    # may round differently (1e-7 relative here). Example blocks fixed: by default they depend on the workers
    # when n < 1024 × workers
    L = init_branches(3, I, widths, seed=0, device="cpu", dtype=torch.float32, parametrization="mean")
    plane = pl.plane_from_solutions(L)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(500, widths[0], generator=g)
    y = torch.randint(0, widths[-1], (500,), generator=g)
    grid = pl.grid_for(plane, 3)
    run = lambda w: ev.evaluate_fast(plane, x, y, multiclass_hinge, grid, grid, scale="mean", workers=w,  # noqa: E731
                                     example_block=128, engine=engine)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        many, one_on_two = [run(w) for w in (2, 2, 3)], run(1)
        torch.set_num_threads(1)
        many += [run(2), run(1)]
    finally:
        torch.set_num_threads(threads)
    assert np.ptp(many[0]) > 0
    for r in many[1:]:
        np.testing.assert_array_equal(r, many[0])
    np.testing.assert_allclose(one_on_two, many[0], rtol=1e-6)
