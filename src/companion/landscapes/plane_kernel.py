"""The fused CPU step of the plane evaluator, ``plane_kernel.c``, compiled once per machine.

For branches with one hidden layer, :func:`companion.landscapes.evaluate.evaluate_fast` spends its per-point time on
``relu(P₀ + αP₁ + βP₂)`` (U × m activations) and on contracting them with the point's last layer (out × U).
In torch these are an elementwise pass through memory and a GEMM with only ``out`` rows (half the machine's
GEMM rate); the C kernel forms the activations in vector registers and contracts them at once, so they never
reach memory. It is compiled at first use by :func:`companion.core.ckernel.build` (the system C compiler,
``-O3 -march=native``, about half a second, cached under ``<cache>/kernels`` per source, compiler and CPU) and
loaded with ctypes (which releases the GIL, so worker threads run it in parallel). Without a compiler :func:`available` is False and the evaluator uses torch alone.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import torch

from companion.core import ckernel

SOURCE = Path(__file__).with_name("plane_kernel.c")
FLAGS = ckernel.FLAGS
_SUFFIX = {torch.float64: "f64", torch.float32: "f32"}


@functools.lru_cache(maxsize=1)
def _library() -> tuple[ctypes.CDLL | None, str]:
    """(the loaded library, "") or (None, why not): compiled on first call, then from the cache
    (:func:`companion.core.ckernel.build`)."""
    dll, why = ckernel.build(SOURCE)
    if dll is None:
        return None, why
    for suf in ("f64", "f32"):
        fn = getattr(dll, f"relu_contract_{suf}")
        fn.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_long] * 5 + [ctypes.c_int]
        fn.restype = None
        getattr(dll, f"tile_width_{suf}").restype = ctypes.c_long
    return dll, ""


def available() -> bool:
    """Whether the compiled kernel can be used on this machine (compiles it on the first call)."""
    return _library()[0] is not None


def why_unavailable() -> str:
    """"" when :func:`available`, else the reason (no compiler, a compile error)."""
    return _library()[1]


@functools.lru_cache(maxsize=2)
def tile_width(dtype: torch.dtype) -> int:
    """TW, examples per tile: the kernel reads the first-layer products as (tiles, 3, U, TW)."""
    return int(getattr(_loaded(), f"tile_width_{_SUFFIX[dtype]}")())


def _loaded() -> ctypes.CDLL:
    lib, why = _library()
    if lib is None:
        raise RuntimeError(f"the compiled ReLU kernel is unavailable: {why}; use engine='torch'")
    return lib


def to_tiles(P: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """(3, U, m) first-layer products as the kernel reads them: (T, 3, U, TW), T = ⌈m / TW⌉, the last tile
    zero-padded; written into ``out`` (a flat buffer of at least that many values) when given."""
    _, U, m = P.shape
    tw = tile_width(P.dtype)
    T = -(-m // tw)
    tiles = (torch.empty(T * 3 * U * tw, dtype=P.dtype) if out is None else out[:T * 3 * U * tw]).view(T, 3, U, tw)
    full = m // tw
    tiles[:full] = P[..., :full * tw].reshape(3, U, full, tw).permute(2, 0, 1, 3)
    if full < T:
        tiles[full, ..., :m - full * tw] = P[..., full * tw:]
        tiles[full, ..., m - full * tw:] = 0
    return tiles


def relu_contract(tiles: torch.Tensor, Lt: torch.Tensor, ab: torch.Tensor, out: torch.Tensor, *,
                  accumulate: bool) -> None:
    """``out[p, o, e] (+)= Σ_u Lt[p, u, o] · relu(P₀[u, e] + a_p P₁[u, e] + b_p P₂[u, e])`` in place, for the
    first-layer products P = (P₀, P₁, P₂) of m examples given as :func:`to_tiles` makes them.

    tiles: (T, 3, U, TW) contiguous; Lt: (npts, U, O) contiguous; ab: (npts, 2) contiguous rows (a_p, b_p); out:
    (npts, O, m), T = ⌈m / TW⌉, unit stride along examples and strides (O·ldo, ldo) otherwise (a column slice of
    a (npts, O, n) tensor). All float32 or all float64, on the CPU. ``accumulate``: add to ``out`` instead of
    overwriting it.
    """
    T, three, U, tw = tiles.shape
    npts, O, m = out.shape
    if tiles.dtype not in _SUFFIX or any(t.dtype != tiles.dtype or t.device.type != "cpu" for t in (Lt, ab, out)):
        raise ValueError("relu_contract needs float32 or float64 CPU tensors of one dtype")
    if (not (tiles.is_contiguous() and Lt.is_contiguous() and ab.is_contiguous()) or three != 3
            or tw != tile_width(tiles.dtype) or T != -(-m // tw) or Lt.shape != (npts, U, O) or ab.shape != (npts, 2)
            or out.stride() != (O * out.stride(1), out.stride(1), 1)):
        raise ValueError(f"relu_contract: inconsistent shapes or strides: tiles {tuple(tiles.shape)}, "
                         f"Lt {tuple(Lt.shape)}, ab {tuple(ab.shape)}, out {tuple(out.shape)} stride {out.stride()}")
    fn = getattr(_loaded(), f"relu_contract_{_SUFFIX[tiles.dtype]}")
    fn(tiles.data_ptr(), Lt.data_ptr(), ab.data_ptr(), out.data_ptr(), npts, U, O, m, out.stride(1),
       int(accumulate))
