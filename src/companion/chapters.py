"""The chapter registry: chapter name → jupytext source, presets and parameter validation.

Presets live in one place, ``presets.yaml`` beside this module. Each chapter's notebook has a
cell tagged ``parameters`` whose defaults equal its ``smoke`` preset; the types of those defaults
are the types that presets and ``-p KEY=VALUE`` overrides must have.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml

Preset = Literal["smoke", "cpu", "paper"]
PRESETS: tuple[str, ...] = ("smoke", "cpu", "paper")

#: Parameters every chapter has, set by the runner from its own options (not by presets or -p).
RUNNER_PARAMETERS: dict[str, str] = {
    "preset": "--preset",
    "device": "--device",
    "data_dir": "--data-dir",
    "claims_path": "--out",
    "run_id": "(set by the runner)",
    "interactive": "(set by the runner)",
}


class ChapterError(ValueError):
    """A chapter, preset or parameter that does not exist or does not fit."""


@dataclass(frozen=True)
class Chapter:
    name: str
    title: str
    source: Path
    presets: Mapping[str, Mapping[str, Any]]


def project_root() -> Path:
    """The repository root: ``COMPANION_ROOT``, else the checkout this package lives in, else cwd upwards."""
    env = os.environ.get("COMPANION_ROOT")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2])
    cwd = Path.cwd().resolve()
    candidates.extend([cwd, *cwd.parents])
    for c in candidates:
        if (c / "notebooks").is_dir() and (c / "_toc.yml").is_file():
            return c
    raise ChapterError(
        "cannot find the project root (a folder with notebooks/ and _toc.yml): run from the repository "
        "or set COMPANION_ROOT to it")


@lru_cache(maxsize=1)
def _preset_table() -> dict[str, Any]:
    text = resources.files("companion").joinpath("presets.yaml").read_text(encoding="utf-8")
    table = yaml.safe_load(text)
    if not isinstance(table, dict):
        raise ChapterError("presets.yaml must map chapter names to their presets")
    return table


def chapter_names() -> list[str]:
    """All chapters, in book order."""
    return list(_preset_table())


def get_chapter(name: str, root: Path | None = None) -> Chapter:
    """Look up a chapter by name, or fail listing the valid names."""
    table = _preset_table()
    if name not in table:
        raise ChapterError(f"unknown chapter {name!r}: choose one of {', '.join(table)} (see `companion list`)")
    entry = table[name]
    presets = entry.get("presets", {})
    missing = [p for p in PRESETS if p not in presets]
    if missing:
        raise ChapterError(f"presets.yaml: chapter {name!r} lacks preset(s) {', '.join(missing)}")
    root = root or project_root()
    return Chapter(name=name, title=entry.get("title", name), source=root / "notebooks" / f"{name}.py",
                   presets={p: dict(presets[p] or {}) for p in PRESETS})


def parameters_cell_source(source: Path) -> str:
    """The code of the cell tagged ``parameters`` in a jupytext percent-format notebook."""
    import jupytext

    nb = jupytext.read(source)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ChapterError(f"{source} must have exactly one cell tagged 'parameters' (found {len(cells)})")
    return cells[0].source


def notebook_defaults(source: Path) -> dict[str, Any]:
    """The defaults of the ``parameters`` cell: every statement must be ``name = <literal>``."""
    tree = ast.parse(parameters_cell_source(source))
    out: dict[str, Any] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            target, value = stmt.targets[0].id, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            target, value = stmt.target.id, stmt.value
        else:
            raise ChapterError(f"{source}: the parameters cell may only hold `name = literal` lines")
        try:
            out[target] = ast.literal_eval(value)
        except ValueError as exc:
            raise ChapterError(f"{source}: parameter {target!r} must be a literal value") from exc
    return out


def _type_name(x: Any) -> str:
    return type(x).__name__


def coerce(name: str, value: Any, default: Any) -> Any:
    """Check ``value`` against the type of ``default`` (int → float allowed); return the coerced value."""
    if default is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, (list, tuple)):
        if isinstance(value, (list, tuple)):
            if default:
                return [coerce(f"{name}[{i}]", v, default[0]) for i, v in enumerate(value)]
            return list(value)
    elif isinstance(default, dict):
        if isinstance(value, dict):
            return dict(value)
    raise ChapterError(f"parameter {name!r} must be of type {_type_name(default)} (like its default {default!r}), "
                       f"got {value!r} of type {_type_name(value)}")


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``KEY=VALUE`` (VALUE read as YAML: 3, 0.5, true, [1, 2], text)."""
    if "=" not in text:
        raise ChapterError(f"-p expects KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ChapterError(f"-p {key}: cannot read value {raw!r} ({exc})") from exc
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 as text
        try:
            value = int(value) if value.strip().lstrip("+-").isdigit() else float(value)
        except ValueError:
            pass
    return key, value


def resolve_parameters(chapter: Chapter, preset: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Preset parameters with overrides on top, validated against the notebook's parameters cell.

    Raises :class:`ChapterError` for an unknown preset, an unknown parameter name, a runner-owned
    parameter given with -p, or a value of the wrong type, naming the valid choices.
    """
    if preset not in PRESETS:
        raise ChapterError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    defaults = notebook_defaults(chapter.source)
    own = {k: v for k, v in defaults.items() if k not in RUNNER_PARAMETERS}
    params: dict[str, Any] = {}
    for key, value in chapter.presets[preset].items():
        if key not in own:
            raise ChapterError(f"presets.yaml: {chapter.name}.{preset} sets {key!r}, which the notebook's "
                               f"parameters cell lacks (it has {', '.join(sorted(own))})")
        params[key] = coerce(key, value, own[key])
    for key, value in (overrides or {}).items():
        if key in RUNNER_PARAMETERS:
            raise ChapterError(f"parameter {key!r} is set by the runner: use {RUNNER_PARAMETERS[key]} instead of -p")
        if key not in own:
            raise ChapterError(f"unknown parameter {key!r} for chapter {chapter.name!r}: "
                               f"choose from {', '.join(sorted(own))}")
        params[key] = coerce(key, value, own[key])
    return params
