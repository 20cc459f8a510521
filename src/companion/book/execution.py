"""The runner's execution step, alone (it imports nothing else of the package): a jupytext notebook run by
papermill in a ``python3`` kernel of this interpreter. :func:`companion.book.runner.run_chapter` calls it for every
chapter, and the ``chapter_start`` calibration probe (:mod:`companion.book.probes`) for a chapter with no work."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Mapping


def kernel_env() -> None:
    """Make the `python3` kernel start with this interpreter (its kernel.json says plain `python`)."""
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if not path.split(os.pathsep)[0] == bindir:
        os.environ["PATH"] = bindir + os.pathsep + path
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")


def execute(source: Path, dest: Path, cwd: Path, params: Mapping[str, Any], *, progress: bool = False) -> str | None:
    """Run the jupytext notebook ``source`` with papermill into ``dest``; the error in words, or None.

    Every failure is caught and named: a failing cell (with its index), a dead kernel, a timeout."""
    import jupytext
    import papermill

    kernel_env()
    source_nb = dest.with_name(dest.name.replace(".partial.", ".source."))
    jupytext.write(jupytext.read(source), source_nb, fmt="ipynb")
    try:
        papermill.execute_notebook(str(source_nb), str(dest), parameters=dict(params), kernel_name="python3",
                                   cwd=str(cwd), progress_bar=progress, log_output=False,
                                   extra_arguments=["--IPKernelApp.log_level=ERROR"])  # no TCP-encryption notice
    except papermill.PapermillExecutionError as exc:
        return f"cell {exc.cell_index} (execution count {exc.exec_count}) raised {exc.ename}: {exc.evalue}"
    except Exception as exc:  # noqa: BLE001 – a dead kernel, a timeout, a broken kernel spec: named, never fatal
        return f"the kernel did not finish ({type(exc).__name__}: {str(exc).strip() or 'no message'})"
    finally:
        source_nb.unlink(missing_ok=True)
    return None
