"""The compiled fused ReLU contraction against torch, its tiles, and what happens without a compiler."""

import numpy as np
import pytest
import torch

from companion.landscapes import evaluate as ev, plane as pl
from companion.landscapes import plane_kernel as rk
from companion.training.losses import multiclass_hinge
from companion.training.nets import init_branches

needs_kernel = pytest.mark.skipif(not rk.available(), reason=f"no compiled kernel: {rk.why_unavailable()}")


def reference(P: torch.Tensor, Lt: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """(npts, O, m): per point, last layer @ relu(P₀ + aP₁ + bP₂), the plain way."""
    return torch.stack([Lt[p].T @ torch.relu(P[0] + ab[p, 0] * P[1] + ab[p, 1] * P[2]) for p in range(len(ab))])


def case(U: int, O: int, m: int, npts: int, dtype: torch.dtype, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    P = torch.randn(3, U, m, generator=g, dtype=torch.float64).to(dtype)
    Lt = torch.randn(npts, U, O, generator=g, dtype=torch.float64).to(dtype)
    ab = (2 * torch.rand(npts, 2, generator=g, dtype=torch.float64) - 1).to(dtype)
    return P, Lt, ab


@needs_kernel
@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-12), (torch.float32, 1e-4)])
@pytest.mark.parametrize("O", [1, 2, 5, 10, 12, 13, 30])      # one pass, several passes of the outputs
def test_equals_torch_for_any_width_and_ragged_examples(dtype, rtol, O):
    tw = rk.tile_width(dtype)
    for m in (1, tw - 1, tw, tw + 3, 3 * tw + 5):                  # partial last tiles included
        P, Lt, ab = case(U=37, O=O, m=m, npts=5, dtype=dtype, seed=m)   # 5 = 4 + 1 = 2 + 2 + 1 points
        out = torch.full((5, O, m), float("nan"), dtype=dtype)
        rk.relu_contract(rk.to_tiles(P), Lt, ab, out, accumulate=False)
        ref = reference(P.double(), Lt.double(), ab.double())
        assert float(ref.abs().max()) > 1
        np.testing.assert_allclose(out.double().numpy(), ref.numpy(), rtol=rtol, atol=rtol * float(ref.abs().max()))


@needs_kernel
def test_writes_a_column_slice_accumulates_and_leaves_the_rest():
    P, Lt, ab = case(U=20, O=3, m=21, npts=5, dtype=torch.float64)
    total = torch.zeros(5, 3, 50, dtype=torch.float64)
    total[:, :, 30:] = 7.0
    rk.relu_contract(rk.to_tiles(P), Lt, ab, total[:, :, 9:30], accumulate=False)
    rk.relu_contract(rk.to_tiles(P), Lt, ab, total[:, :, 9:30], accumulate=True)
    ref = reference(P, Lt, ab)
    torch.testing.assert_close(total[:, :, 9:30], 2 * ref, rtol=1e-12, atol=1e-12)
    assert (total[:, :, :9] == 0).all() and (total[:, :, 30:] == 7).all()    # nothing outside the slice


@needs_kernel
def test_nan_passes_through_relu_as_in_torch():
    P, Lt, ab = case(U=6, O=2, m=4, npts=2, dtype=torch.float64)
    P[0, 2, 1] = float("nan")
    out = torch.empty(2, 2, 4, dtype=torch.float64)
    rk.relu_contract(rk.to_tiles(P), Lt, ab, out, accumulate=False)
    assert torch.isnan(out[:, :, 1]).all() and not torch.isnan(out[:, :, [0, 2, 3]]).any()
    assert torch.equal(torch.isnan(out), torch.isnan(reference(P, Lt, ab)))


@needs_kernel
def test_tiles_hold_the_products_tile_by_tile():
    tw = rk.tile_width(torch.float64)
    P = torch.arange(3 * 4 * (2 * tw + 1), dtype=torch.float64).view(3, 4, -1)
    tiles = rk.to_tiles(P, out=torch.full((10**4,), -1.0, dtype=torch.float64))
    assert tiles.shape == (3, 3, 4, tw)
    for e in (0, tw - 1, tw, 2 * tw):
        assert torch.equal(tiles[e // tw, :, :, e % tw], P[:, :, e])
    assert (tiles[2, :, :, 1:] == 0).all()                           # the last tile's padding


@needs_kernel
def test_inconsistent_arguments_are_refused():
    P, Lt, ab = case(U=5, O=2, m=8, npts=3, dtype=torch.float64)
    tiles, out = rk.to_tiles(P), torch.empty(3, 2, 8, dtype=torch.float64)
    with pytest.raises(ValueError, match="one dtype"):
        rk.relu_contract(tiles, Lt.float(), ab, out, accumulate=False)
    with pytest.raises(ValueError, match="inconsistent"):
        rk.relu_contract(tiles, Lt[:2], ab, out, accumulate=False)
    with pytest.raises(ValueError, match="inconsistent"):
        rk.relu_contract(tiles, Lt, ab, out.transpose(1, 2).contiguous().transpose(1, 2), accumulate=False)
    with pytest.raises(ValueError, match="inconsistent"):
        rk.relu_contract(tiles, Lt, ab, torch.empty(3, 2, 8 + rk.tile_width(torch.float64), dtype=torch.float64),
                         accumulate=False)


def test_without_a_compiler_the_evaluator_falls_back_to_torch(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    rk._library.cache_clear()
    try:
        assert not rk.available() and "no C compiler" in rk.why_unavailable()
        L = init_branches(3, 4, (5, 3, 2), seed=0, device="cpu", dtype=torch.float64)
        plane = pl.plane_from_solutions(L)
        x = torch.randn(30, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        y = torch.arange(30) % 2
        g = np.linspace(-1, 1, 3)
        assert ev.fast_engine(plane) == "torch"
        np.testing.assert_allclose(ev.evaluate_fast(plane, x, y, multiclass_hinge, g, g),
                                   ev.evaluate_naive(plane, x, y, multiclass_hinge, g, g), rtol=1e-10)
        with pytest.raises(ValueError, match="no C compiler"):
            ev.evaluate_fast(plane, x, y, multiclass_hinge, g, g, engine="compiled")
    finally:
        rk._library.cache_clear()
