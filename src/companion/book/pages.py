"""What a reader sees of an executed chapter: the notebook made into a clean page.

After papermill has run a chapter, :func:`finalize_notebook` rewrites the executed notebook so that

- the ``parameters`` and ``injected-parameters`` cells are removed from the page (tag ``remove-cell``;
  they stay in the ``.ipynb`` for rerunning), and the setup cell's code is folded (``hide-input``);
- a box at the top says how the page was made: preset, device, data, seed, wall time, package version and
  git commit, with the command that reruns it;

The notebook a reader opens in Binder, Colab or a plain Jupyter (the page's download too) is made from this one
after the book is built, with its own first cell that installs the package at the commit that built the page:
:mod:`companion.book.publish`.
"""

from __future__ import annotations

import json
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

REMOVE = "remove-cell"
HIDE_INPUT = "hide-input"


def source_version(root: Path | None) -> str:
    """``companion X.Y.Z (git abc1234)``, with ``+ local changes`` when the checkout differs from its commit."""
    try:
        version = metadata.version("companion")
    except metadata.PackageNotFoundError:
        version = "unknown"
    commit = "no git checkout"
    if root is not None:
        try:
            sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                 text=True, timeout=10)
            if sha.returncode == 0:
                dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "notebooks"], cwd=root,
                                       capture_output=True, text=True, timeout=10).stdout.strip()
                commit = f"git {sha.stdout.strip()}" + (" + local changes" if dirty else "")
        except (OSError, subprocess.SubprocessError):
            pass
    return f"companion {version} ({commit})"


def provenance_markdown(name: str, claims: dict[str, Any] | None, preset: str, version: str) -> str:
    """The box at the top of a chapter page (MyST admonition)."""
    rerun = f"companion run {name} --preset {preset}"
    if claims is None:
        facts = f"Preset **{preset}**. This run did not save its claims."
    else:
        data = "; ".join(claims.get("data", [])) or "none"
        from companion.book.times import ratio_text

        facts = (f"Preset **{preset}** · device {claims['device']} · seed {claims['seed']} · "
                 f"{ratio_text(claims['wall_time_s'], claims.get('plan'))} · {version}\n\nData: {data}")
    return (f"```{{admonition}} How this page was made\n:class: note provenance\n\n{facts}\n\n"
            f"Rerun it: `{rerun}` (add `--device cuda` on a GPU; see [Rerun a page](../rerun.md)).\n```")


def _tags(cell: dict[str, Any]) -> list[str]:
    return cell.setdefault("metadata", {}).setdefault("tags", [])


def finalize_notebook(path: Path, name: str, preset: str, claims: dict[str, Any] | None, *, version: str) -> None:
    """Rewrite the executed notebook at ``path`` into its page form (see the module docstring), in place."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = nb["cells"]
    setup_done = False
    for cell in cells:
        tags = _tags(cell)
        if "parameters" in tags or "injected-parameters" in tags:
            if REMOVE not in tags:
                tags.append(REMOVE)
        elif cell["cell_type"] == "code" and not setup_done and any(
                "injected-parameters" in _tags(c) or "parameters" in _tags(c) for c in cells[: cells.index(cell)]):
            setup_done = True                      # the first code cell after the parameters: imports and setup
            if HIDE_INPUT not in tags:
                tags.append(HIDE_INPUT)
    title = next((i for i, c in enumerate(cells) if c["cell_type"] == "markdown"), -1)
    box = {"id": "provenance", "cell_type": "markdown", "metadata": {"tags": ["provenance"]},
           "source": provenance_markdown(name, claims, preset, version)}
    cells.insert(title + 1, box)
    Path(path).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
