"""Small C kernels compiled at first use: one source file → one shared library, cached per machine.

A kernel's source is compiled with the system C compiler (``$CC``, else ``cc``; ``-O3 -march=native``, else
without ``-march=native`` for a compiler that lacks it) into ``<cache>/kernels`` (see
:func:`companion.core.files.cache_dir`; a temporary folder when the cache is not writable), keyed by the
source, the compiler's version, the flags and the CPU, and loaded with ctypes (whose calls release the GIL, so
threads run a kernel in parallel). :func:`build` answers ``(library, "")`` or ``(None, why not)``; a caller keeps
its own torch path for the second case.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

#: the compiler flags tried in order: the machine's vectors (AVX-512 where it has them), then plain -O3
FLAGS = (["-O3", "-march=native", "-std=gnu11", "-shared", "-fPIC"],
         ["-O3", "-std=gnu11", "-shared", "-fPIC"])


def cpu_signature() -> str:
    """What -march=native depends on: the CPU's model and flags (Linux), else the platform's description."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "|".join(sorted({ln for ln in lines if ln.split(":")[0].strip() in ("model name", "flags")}))
    except OSError:
        return platform.processor() + platform.machine()


def _compile(cc: str, source: Path, out: Path) -> str:
    """Compile ``source`` into ``out`` (atomically); returns "" or the compiler's complaint."""
    errors = []
    for flags in FLAGS:
        tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
        r = subprocess.run([cc, *flags, "-o", str(tmp), str(source)], capture_output=True, text=True)
        if r.returncode == 0:
            os.replace(tmp, out)
            return ""
        errors.append(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}")
    return "; ".join(errors)


def _folder() -> Path:
    """The kernels' cache folder, created: ``<cache>/kernels``, else a per-user temporary folder."""
    from companion.core.files import cache_dir

    folder = cache_dir() / "kernels"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = Path(tempfile.gettempdir()) / f"companion-kernels-{os.getuid()}"
        folder.mkdir(exist_ok=True)
    return folder


def build(source: Path) -> tuple[ctypes.CDLL | None, str]:
    """(the loaded library of ``source``, "") or (None, why not): compiled on the first call on this machine
    (about a second), then loaded from the cache. The library is named after the source's stem and a key of
    the source, compiler, flags and CPU. Callers cache the answer (``functools.lru_cache``) and declare the
    functions' argument types."""
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        return None, "no C compiler (set CC or install cc)"
    try:
        version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
        key = hashlib.sha256("\0".join([source.read_text(), version, repr(FLAGS), cpu_signature()])
                             .encode()).hexdigest()[:16]
        lib = _folder() / f"{source.stem}-{key}.so"
        if not lib.exists() and (err := _compile(cc, source, lib)):
            return None, f"compiling {source.name} failed: {err}"
        return ctypes.CDLL(str(lib)), ""
    except OSError as e:
        return None, f"the kernel could not be built or loaded: {e}"
