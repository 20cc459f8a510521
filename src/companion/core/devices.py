"""Device selection: the same torch kernels run on CPU here and on CUDA when present.

One device type travels through the package: :class:`torch.device`. :func:`resolve_device` turns what a user
types (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or a ``torch.device``) into one, once, at the edge (the
chapter's :func:`companion.book.runtime.start_chapter`, a test); every function of the package takes
``device: Device = "cpu"`` and passes it to torch as it is, so a ``torch.device`` from the edge is used unchanged.
"""

from __future__ import annotations

from typing import Literal, Union

import torch

DeviceName = Literal["auto", "cpu", "cuda"]
#: what a function of the package accepts as ``device`` (its default is always ``"cpu"``)
Device = Union[torch.device, str]
DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def resolve_device(device: Device = "auto") -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:N"`` or a ``torch.device`` into a ``torch.device``.

    ``"auto"`` means CUDA when it is available, else CPU. Asking for CUDA (any index) on a machine without a
    GPU, or for an index the machine lacks, is an error that says so, never a silent fallback.
    """
    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"unknown device {device!r}: choose one of {', '.join(DEVICE_CHOICES)} "
                             "(or cuda:N)") from exc
        if dev.type not in ("cpu", "cuda"):
            raise ValueError(f"unknown device {device!r}: choose one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {str(dev)!r} was asked for but torch sees no CUDA GPU: use --device cpu "
                               "or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise RuntimeError(f"device {str(dev)!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                               f"cuda:0 … cuda:{torch.cuda.device_count() - 1}")
    return dev


def describe_device(device: Device) -> str:
    """A human-readable name, e.g. ``'cpu (2 threads)'`` or ``'cuda:1: NVIDIA H100'``."""
    device = resolve_device(device)
    if device.type == "cuda":
        return f"{device}: {torch.cuda.get_device_name(device)}"
    return f"cpu ({torch.get_num_threads()} threads)"
