"""The authors' learning-rate and stopping rule (``fully_connected.py``, github.com/hongyanz/multibranch),
vectorised over S networks.

Transcribed from their ``train_model``: after every optimiser step, with ``loss`` the minibatch loss of
that step (computed before the update):

1. stop if the loss is < ``stop_loss`` (1e-5) or not finite;
2. otherwise, only every ``check_every`` (100) steps:
   - at the first check, remember the loss (``last``) and go on;
   - if ``last + tol ≥ loss`` (the loss did not rise since the last cut), go on;
   - if no cuts are left (3 at the start), stop;
   - else cut the rate ×``factor`` (0.1), spend one cut and remember this loss as ``last``.

``last`` is only updated at the first check and at cuts: "the loss rose since the last cut", not since the
last check. The state is plain tensors so a trainer can keep it on any device and compact it with its
networks (index every field with the same index).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from companion.core.devices import Device


@dataclass
class AuthorsRule:
    """State of the rule for S networks. All fields (S,)."""

    lr: torch.Tensor          # current rate
    last: torch.Tensor        # loss remembered at the first check / the last cut (nan before the first check)
    cuts_left: torch.Tensor   # int64
    stopped: torch.Tensor     # bool: the rule has ended this network's training
    cuts: int = 3
    factor: float = 0.1
    tol: float = 1e-5
    stop_loss: float = 1e-5
    check_every: int = 100

    @classmethod
    def start(cls, lr: float | torch.Tensor, S: int, *, cuts: int = 3, factor: float = 0.1, tol: float = 1e-5,
              stop_loss: float = 1e-5, check_every: int = 100, device: Device = "cpu",
              dtype: torch.dtype = torch.float32) -> "AuthorsRule":
        """Fresh state: every network at rate ``lr`` (a number, or (S,) rates), ``cuts`` cuts left."""
        if check_every < 1 or cuts < 0 or not 0 < factor < 1:
            raise ValueError(f"need check_every ≥ 1, cuts ≥ 0 and 0 < factor < 1; got {check_every}, {cuts}, {factor}")
        rate = torch.as_tensor(lr, dtype=dtype, device=device).expand(S).clone()
        return cls(lr=rate, last=torch.full((S,), torch.nan, dtype=dtype, device=device),
                   cuts_left=torch.full((S,), cuts, dtype=torch.int64, device=device),
                   stopped=torch.zeros(S, dtype=torch.bool, device=device), cuts=cuts, factor=factor, tol=tol,
                   stop_loss=stop_loss, check_every=check_every)

    def update(self, loss: torch.Tensor, step: int) -> torch.Tensor:
        """Apply the rule after optimiser step number ``step`` (1-based, as their ``global_step``) with this
        step's minibatch ``loss`` (S,). Updates the state in place; returns ``stopped`` (S,) bool.
        Networks already stopped are left as they are."""
        bad = ~torch.isfinite(loss) | (loss < self.stop_loss)
        if step % self.check_every:                     # most steps: only the stop test (stopped stays stopped)
            self.stopped |= bad
            return self.stopped
        live = ~self.stopped & ~bad
        self.stopped |= bad
        first = live & torch.isnan(self.last)
        self.last = torch.where(first, loss, self.last)
        rose = live & ~first & (self.last + self.tol < loss)
        self.stopped |= rose & (self.cuts_left == 0)
        cut = rose & (self.cuts_left > 0)
        self.lr = torch.where(cut, self.lr * self.factor, self.lr)
        self.cuts_left = self.cuts_left - cut.long()
        self.last = torch.where(cut, loss, self.last)
        return self.stopped

    def select(self, index: torch.Tensor) -> "AuthorsRule":
        """The state of networks ``index`` only (for compacting a batch)."""
        per = {f.name: getattr(self, f.name)[index] for f in fields(self) if isinstance(getattr(self, f.name), torch.Tensor)}
        rest = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in per}
        return AuthorsRule(**per, **rest)


def authors_rule_loop(losses: list[float], lr: float, *, cuts: int = 3, factor: float = 0.1, tol: float = 1e-5,
                      stop_loss: float = 1e-5, check_every: int = 100) -> tuple[list[float], int]:
    """A plain transcription of the authors' loop for one network, fed a sequence of minibatch losses.

    Returns (the rate used at each step, the number of steps taken). The reference the vectorised rule is
    tested against: a line-by-line copy of their ``train_model`` control flow without the model.
    """
    rates, last_loss, decay_times, global_step = [], None, cuts, 0
    for pyloss in losses:
        rates.append(lr)                      # this step's update uses the current rate
        global_step += 1
        if pyloss < stop_loss or pyloss != pyloss or abs(pyloss) == float("inf"):
            break
        if global_step % check_every != 0:
            continue
        if last_loss is None:
            last_loss = pyloss
            continue
        if (last_loss + tol) >= pyloss:
            continue
        if decay_times == 0:
            break
        decay_times -= 1
        lr *= factor
        last_loss = pyloss
    return rates, global_step
