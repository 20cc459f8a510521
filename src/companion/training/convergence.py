"""When a training run has converged: its full-data loss stopped changing, or its rule stopped it.

P1 trains "until the algorithm converges". The criterion here, per network: either its rule ended it by itself
(the authors' rule: a minibatch loss below ``stop_loss``, or a rise with no rate cuts left; ``check_full``: the
full-data loss at or below ``stop_loss``), with a finite final loss; or the relative change of its full-data loss
over the last ``window_frac`` of its steps is at most ``rel_tol``. The full-data losses are those the trainer
records at its checks (:attr:`companion.training.train.TrainResult.history`, row j at step j·check_every, under
both rules) and the final one (:attr:`~companion.training.train.TrainResult.loss`, at the step it stopped).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from companion.training.train import TrainResult


def _numpy(a) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def window_losses(history, steps_taken, *, check_every: int, window_frac: float = 0.1,
                  final_loss=None) -> tuple[np.ndarray, np.ndarray]:
    """((S,) L(t₀), (S,) L(t)): each network's full-data loss at the start and the end of the last
    ``window_frac`` of its steps (nan where missing).

    ``history``: (checks, S) full-data losses, row j at step j·``check_every``; ``steps_taken``: (S,) steps t;
    ``final_loss``: (S,) L(t), the loss when it stopped (None: the last check at or before t). t₀ = the last
    check at or before t − ⌈window_frac·t⌉, and at least one check interval before the end point.
    """
    H = _numpy(history).astype(np.float64)
    t = _numpy(steps_taken).astype(np.int64)
    if H.ndim != 2 or t.shape != (H.shape[1],):
        raise ValueError(f"need history (checks, S) and steps_taken (S,); got {H.shape} and {t.shape}")
    if check_every < 1 or not 0 < window_frac <= 1:
        raise ValueError(f"need check_every ≥ 1 and 0 < window_frac ≤ 1; got {check_every}, {window_frac}")
    F = None if final_loss is None else _numpy(final_loss).astype(np.float64)
    start, end = np.full(len(t), np.nan), np.full(len(t), np.nan)
    for s, ts in enumerate(t.tolist()):
        j_end = min(ts // check_every, H.shape[0] - 1)
        end_step = ts if F is not None else j_end * check_every
        j0 = max(ts - math.ceil(window_frac * ts), 0) // check_every
        if j0 * check_every >= end_step:
            j0 = (end_step - 1) // check_every                 # at least one interval: the previous check
        if j0 >= 0 and ts > 0:
            start[s], end[s] = H[j0, s], (F[s] if F is not None else H[j_end, s])
    return start, end


def relative_change(history, steps_taken, *, check_every: int, window_frac: float = 0.1,
                    final_loss=None) -> np.ndarray:
    """(S,) |L(t) − L(t₀)| / |L(t₀)| over the window of :func:`window_losses` (0 when the two are equal, nan
    where one is missing or not finite)."""
    start, end = window_losses(history, steps_taken, check_every=check_every, window_frac=window_frac,
                               final_loss=final_loss)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(end - start) / np.maximum(np.abs(start), np.finfo(np.float64).tiny)
    rel[start == end] = 0.0
    rel[~(np.isfinite(start) & np.isfinite(end))] = np.nan
    return rel


def converged(history, steps_taken, cap: int, *, check_every: int, rel_tol: float, window_frac: float = 0.1,
              stopped_by_rule=None, final_loss=None, abs_tol: float = 0.0) -> np.ndarray:
    """(S,) bool: network s converged — its rule stopped it (``stopped_by_rule``; None: taken to be steps < cap)
    with a finite final loss, or its full-data loss changed by at most ``rel_tol`` (relative) over the last
    ``window_frac`` of its steps (:func:`relative_change`), or by at most ``abs_tol`` (absolute; default 0: the
    relative test alone; a floor for losses that approach 0). ``cap``: the most steps a network could take.
    A rule stop counts at whatever step it came, the cap's included."""
    if rel_tol < 0 or cap < 0 or abs_tol < 0:
        raise ValueError(f"need rel_tol, abs_tol ≥ 0 and cap ≥ 0; got {rel_tol}, {abs_tol}, {cap}")
    t = _numpy(steps_taken).astype(np.int64)
    rule = (t < cap) if stopped_by_rule is None else _numpy(stopped_by_rule).astype(bool)
    if rule.shape != t.shape:
        raise ValueError(f"stopped_by_rule: need shape {t.shape}, got {rule.shape}")
    H = _numpy(history).astype(np.float64)
    if final_loss is not None:
        last = _numpy(final_loss).astype(np.float64)
    else:
        last = H[np.minimum(t // check_every, H.shape[0] - 1), np.arange(len(t))]
    start, end = window_losses(H, t, check_every=check_every, window_frac=window_frac, final_loss=final_loss)
    change = relative_change(H, t, check_every=check_every, window_frac=window_frac, final_loss=final_loss)
    with np.errstate(invalid="ignore"):
        return (rule & np.isfinite(last)) | (change <= rel_tol) | (np.abs(end - start) <= abs_tol)


def result_converged(result: "TrainResult", *, cap: int, check_every: int, rel_tol: float,
                     window_frac: float = 0.1, abs_tol: float = 0.0) -> np.ndarray:
    """:func:`converged` of a :class:`~companion.training.train.TrainResult` (its history, steps, final loss and
    ``stopped_by_rule``) trained with ``steps=cap`` and this ``check_every``."""
    return converged(result.history, result.steps, cap, check_every=check_every, rel_tol=rel_tol,
                     window_frac=window_frac, stopped_by_rule=result.stopped_by_rule, final_loss=result.loss,
                     abs_tol=abs_tol)
