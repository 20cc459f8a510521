"""Device selection: the same torch kernels run on CPU here and on CUDA when present."""

from __future__ import annotations

from typing import Literal

import torch

DeviceName = Literal["auto", "cpu", "cuda"]
DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def resolve_device(device: DeviceName | str = "auto") -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda"`` into a ``torch.device``.

    ``"auto"`` means CUDA when it is available, else CPU. Asking for ``"cuda"`` on a machine
    without a GPU is an error that says so, never a silent fallback.
    """
    if device not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {device!r}: choose one of {', '.join(DEVICE_CHOICES)}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but torch sees no CUDA GPU: use --device cpu or auto")
    return torch.device(device)


def describe_device(device: torch.device) -> str:
    """A human-readable name, e.g. ``'cpu (2 threads)'`` or ``'cuda: NVIDIA H100'``."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu ({torch.get_num_threads()} threads)"
