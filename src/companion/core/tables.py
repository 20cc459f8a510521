"""One number style for every table: at most four significant digits, scientific notation where a column
is there to show agreement to many digits (a closed form beside the value that reproduces it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:                                          # pandas is imported by the caller that has a frame
    import pandas as pd
    from pandas.io.formats.style import Styler

#: two columns "agree" when their largest relative difference is below this: then both show many digits
AGREEMENT_RTOL = 1e-4


def fmt_number(x: float | None, na_rep: str = "—") -> str:
    """A number to at most four significant digits: ``0.01234``, ``12.35``, ``1.235e+05``, ``1.235e-05``
    (scientific below 1e-3 and from 1e4 on); ``na_rep`` for None, "0" for zero, "nan" for NaN."""
    if x is None:
        return na_rep
    if x == 0:
        return "0"
    ax = abs(x)
    if ax >= 1e4 or ax < 1e-3:
        return f"{x:.3e}"
    return f"{x:.4g}"


def fmt_agreement(x: float | None, na_rep: str = "—") -> str:
    """A number in a column that shows agreement: scientific, seven significant digits (``1.234568e+00``)."""
    if x is None:
        return na_rep
    return f"{x:.6e}"


def agreeing_columns(df: "pd.DataFrame", rtol: float = AGREEMENT_RTOL) -> list[str]:
    """The float columns of ``df`` (n rows × k columns) that agree with another float column to ``rtol``
    (largest |a − b| / max(|a|, |b|) over the rows where both are finite and not both zero; a column of
    zeros agrees with nothing)."""
    from pandas.api.types import is_float_dtype

    cols = [c for c in df.columns if is_float_dtype(df[c].dtype)]
    out: set[str] = set()
    for i, a in enumerate(cols):
        for b in cols[i + 1:]:
            x, y = df[a].to_numpy(float), df[b].to_numpy(float)
            scale = np.maximum(np.abs(x), np.abs(y))
            ok = np.isfinite(x) & np.isfinite(y) & (scale > 0)
            if ok.any() and float(np.max(np.abs(x - y)[ok] / scale[ok])) < rtol:
                out |= {a, b}
    return [c for c in cols if c in out]


def readable(df: "pd.DataFrame", *, agreement: Sequence[str] | None = None, na_rep: str = "—") -> "Styler":
    """``df.style`` in the book's number style: float columns by :func:`fmt_number`, the columns that show
    agreement (``agreement``, default :func:`agreeing_columns`) by :func:`fmt_agreement`, integers with
    thousands separators. Other columns are left as they are."""
    agree = set(agreeing_columns(df) if agreement is None else agreement)
    missing = agree - set(df.columns)
    if missing:
        raise ValueError(f"readable: agreement names columns the table lacks: {sorted(map(str, missing))}")
    from pandas.api.types import is_bool_dtype, is_float_dtype, is_integer_dtype

    fmt = {}
    for c in df.columns:
        kind = df[c].dtype
        if c in agree:
            fmt[c] = fmt_agreement
        elif is_float_dtype(kind):
            fmt[c] = fmt_number
        elif is_integer_dtype(kind) and not is_bool_dtype(kind):
            fmt[c] = "{:,}"
    return df.style.format(fmt, na_rep=na_rep)
