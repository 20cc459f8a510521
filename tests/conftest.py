"""Shared fixtures: the repository root, the data the chapters read, and no network anywhere.

Every process the tests start, chapter kernels included, runs with ``COMPANION_OFFLINE=1`` (no downloads)
and with ``tests/netguard`` on its ``PYTHONPATH``, whose ``sitecustomize`` refuses and logs any connection
that leaves the machine. Set ``COMPANION_TEST_NO_SHARED=1`` to test as on a clone without ``../shared``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
NETGUARD = Path(__file__).resolve().parent / "netguard"
#: the device the chapters run on in the tests (``DEVICE=cuda make test`` on a GPU; "auto" = CUDA if present)
TEST_DEVICE = os.environ.get("COMPANION_TEST_DEVICE", "cpu") or "cpu"


def shared_data_present() -> bool:
    return SHARED_DATA.is_dir() and os.environ.get("COMPANION_TEST_NO_SHARED", "") in ("", "0")


@pytest.fixture(scope="session", autouse=True)
def _offline_processes(tmp_path_factory) -> Path:
    """No downloads and no outside connections in any process started from here; returns the attempts log."""
    log = tmp_path_factory.mktemp("net") / "attempts.log"
    log.touch()
    old = {k: os.environ.get(k) for k in ("COMPANION_OFFLINE", "PYTHONPATH", "COMPANION_NET_LOG")}
    os.environ["COMPANION_OFFLINE"] = "1"
    os.environ["COMPANION_NET_LOG"] = str(log)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(NETGUARD), old["PYTHONPATH"]) if p)
    yield log
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def chapter_data_dir(tmp_path_factory) -> Path:
    """The real data (../shared/data) when present, else generated stand-ins in the real layouts."""
    if shared_data_present():
        return SHARED_DATA
    from companion.core.data import write_stand_in_data

    return write_stand_in_data(tmp_path_factory.mktemp("stand_in_data"))


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never touch the network: downloads fail as they would offline."""
    import urllib.request

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture
def isolated_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data root; the user cache and COMPANION_DATA_DIR point into tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("COMPANION_DATA_DIR", raising=False)
    monkeypatch.delenv("COMPANION_OFFLINE", raising=False)
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def book_root(tmp_path_factory) -> Path:
    """A staged copy of the book (config, hand-written pages) that the smoke runs fill."""
    from companion.book.runner import stage_book

    return stage_book(tmp_path_factory.mktemp("book"), ROOT)


@pytest.fixture(scope="session")
def smoke_runs(book_root, chapter_data_dir) -> dict:
    """Every chapter at ``smoke``, through the runner the CLI uses, into the staged book."""
    from companion.book.chapters import chapter_names
    from companion.book.runner import run_chapter

    out = book_root / "book" / "chapters"
    return {n: run_chapter(n, "smoke", out, data_dir=chapter_data_dir, device=TEST_DEVICE, root=ROOT)
            for n in chapter_names()}


@pytest.fixture(scope="session")
def built_book(smoke_runs, book_root):
    """The staged book built to HTML with warnings as errors (dashboard and verdicts generated first)."""
    from companion.book.chapters import chapter_names
    from companion.book.dashboard import write_generated_pages
    from companion.book.runner import build_html

    write_generated_pages(book_root / "book" / "chapters", book_root / "book", chapter_names(), "smoke")
    return build_html(book_root)
