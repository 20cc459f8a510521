"""Files: atomic writes (a reader sees the old file or the whole new one, never a part) and the user cache."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, IO


def cache_dir() -> Path:
    """The user cache for downloads, compiled kernels and the calibration: ``$XDG_CACHE_HOME/companion`` or
    ``~/.cache/companion``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "companion"


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Create ``path`` (and its folder) by ``write(binary file)`` into a temporary file beside it, synced and
    then renamed over ``path``; the temporary file is removed if ``write`` raises. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))
