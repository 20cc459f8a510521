"""One device type: resolve_device takes a string or a torch.device (any index) and returns a torch.device."""

from __future__ import annotations

import pytest
import torch

from companion.core.devices import describe_device, resolve_device


@pytest.fixture
def two_fake_gpus(monkeypatch):
    """The CPU standing in for a machine with two CUDA GPUs (only the availability queries are faked)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.mark.parametrize("given", ["cpu", torch.device("cpu")])
def test_cpu_as_string_or_device(given):
    dev = resolve_device(given)
    assert isinstance(dev, torch.device) and dev.type == "cpu"
    assert resolve_device(dev) == dev                         # a resolved device passes through unchanged


def test_cuda_with_an_index_survives(two_fake_gpus):
    for given in ("cuda:1", torch.device("cuda", 1)):
        dev = resolve_device(given)
        assert dev == torch.device("cuda", 1) and dev.index == 1
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("auto").type == "cuda"


def test_an_index_the_machine_lacks_is_refused(two_fake_gpus):
    with pytest.raises(RuntimeError, match="has 2 CUDA GPU"):
        resolve_device("cuda:2")


def test_cuda_without_a_gpu_is_an_error_not_a_fallback(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    for given in ("cuda", "cuda:1", torch.device("cuda", 0)):
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            resolve_device(given)


@pytest.mark.parametrize("bad", ["gpu", "mps", "cuda:x", ""])
def test_unknown_names_are_refused_naming_the_choices(bad):
    with pytest.raises(ValueError, match="choose one of auto, cpu, cuda"):
        resolve_device(bad)


def test_describe():
    assert describe_device("cpu").startswith("cpu (") and "threads" in describe_device(torch.device("cpu"))
