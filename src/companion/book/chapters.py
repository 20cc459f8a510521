"""The chapter registry: chapter name → jupytext source, presets and parameter validation.

Presets live in one place, ``presets.yaml`` beside this module. Each chapter's notebook has a
cell tagged ``parameters`` whose defaults equal its ``smoke`` preset. Every value a preset or a
``-p KEY=VALUE`` override gives is checked against the chapter's parameter *schema* before a kernel
starts: the type of the notebook's default, refined by the chapter's optional ``schema:`` block in
``presets.yaml``, e.g. ``mnist_split: {choices: [test, train]}`` or
``batch_size: {type: int, optional: true, min: 1}``. Keys of a schema entry:

- ``type``: int, float, bool, str, list[int], list[float], list[str] or dict (default: the default's type);
- ``optional``: ``null`` (None) is allowed, meaning "unset";
- ``choices``: the allowed values (of each element, for a list);
- ``min`` / ``max``: inclusive bounds (of each element, for a list).
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

PRESETS: tuple[str, ...] = ("smoke", "cpu", "paper")
#: Presets for readers, beside the book's: ``binder`` fits a free Binder or Colab (≤ 2 GB, a few minutes) and is
#: what the published notebooks run (companion.book.publish). In presets.yaml it is a mapping, or the name of
#: one of PRESETS whose values it takes (``binder: cpu``); a chapter that gives none runs ``smoke`` there.
READER_PRESETS: tuple[str, ...] = ("binder",)
ALL_PRESETS: tuple[str, ...] = (*PRESETS, *READER_PRESETS)

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
class Spec:
    """What one parameter may be (see the module docstring)."""

    type: str
    optional: bool = False
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None


SPEC_TYPES: tuple[str, ...] = ("int", "float", "bool", "str", "list[int]", "list[float]", "list[str]", "list[list[float]]",
                               "dict")


@dataclass(frozen=True)
class Chapter:
    name: str
    title: str
    source: Path
    presets: Mapping[str, Mapping[str, Any]]
    schema: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def project_root() -> Path:
    """The repository root: ``COMPANION_ROOT``, else the checkout this package lives in, else cwd upwards."""
    env = os.environ.get("COMPANION_ROOT")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[3])
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
    text = resources.files("companion.book").joinpath("presets.yaml").read_text(encoding="utf-8")
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
    presets = {"binder": "smoke", **presets}                   # a chapter that names no binder preset runs smoke
    presets = {p: presets[presets[p]] if isinstance(presets[p], str) and presets[p] in PRESETS else presets[p]
               for p in ALL_PRESETS}
    bad_alias = [p for p in ALL_PRESETS if not isinstance(presets[p], (dict, type(None)))]
    if bad_alias:
        raise ChapterError(f"presets.yaml: {name}.{bad_alias[0]} must be a mapping or one of {', '.join(PRESETS)}")
    root = root or project_root()
    schema = entry.get("schema") or {}
    bad = [k for k, v in schema.items() if not isinstance(v, dict) or set(v) - {"type", "optional", "choices", "min", "max"}]
    if bad:
        raise ChapterError(f"presets.yaml: {name}.schema entries {', '.join(bad)} must be mappings with keys among "
                           "type, optional, choices, min, max")
    return Chapter(name=name, title=entry.get("title", name), source=root / "notebooks" / f"{name}.py",
                   presets={p: dict(presets[p] or {}) for p in ALL_PRESETS}, schema=dict(schema))


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


def _inferred_type(default: Any) -> str | None:
    """The schema type of a notebook default (None for a None default: the schema must give it)."""
    if default is None:
        return None
    if isinstance(default, (list, tuple)):
        return f"list[{_inferred_type(default[0])}]" if default else "list[float]"
    return {bool: "bool", int: "int", float: "float", str: "str", dict: "dict"}.get(type(default))


def spec_for(name: str, default: Any, entry: Mapping[str, Any] | None = None) -> Spec:
    """The parameter's :class:`Spec`: the default's type refined by its ``schema:`` entry."""
    entry = dict(entry or {})
    typ = entry.pop("type", None) or _inferred_type(default)
    if typ not in SPEC_TYPES:
        raise ChapterError(f"parameter {name!r}: schema type {typ!r} unknown (default {default!r}); "
                           f"choose one of {', '.join(SPEC_TYPES)}")
    choices = entry.get("choices")
    return Spec(type=typ, optional=bool(entry.get("optional", False)),
                choices=tuple(choices) if choices is not None else None, min=entry.get("min"), max=entry.get("max"))


def _scalar(name: str, value: Any, typ: str) -> Any:
    ok = {"bool": isinstance(value, bool),
          "int": isinstance(value, int) and not isinstance(value, bool),
          "float": isinstance(value, (int, float)) and not isinstance(value, bool),
          "str": isinstance(value, str),
          "dict": isinstance(value, dict)}[typ]
    if not ok:
        raise ChapterError(f"parameter {name!r} must be of type {typ}, got {value!r} of type {_type_name(value)}")
    return float(value) if typ == "float" else value


def _check_element(name: str, value: Any, spec: Spec) -> None:
    if spec.choices is not None and value not in spec.choices:
        raise ChapterError(f"parameter {name!r} = {value!r} is not a valid choice: choose one of "
                           + ", ".join(map(repr, spec.choices)))
    if spec.min is not None and value < spec.min:
        raise ChapterError(f"parameter {name!r} = {value!r} is below its minimum {spec.min}")
    if spec.max is not None and value > spec.max:
        raise ChapterError(f"parameter {name!r} = {value!r} is above its maximum {spec.max}")


def validate(name: str, value: Any, spec: Spec) -> Any:
    """Check ``value`` against ``spec`` (int → float allowed); return the coerced value or raise
    :class:`ChapterError` naming what is allowed."""
    if value is None:
        if spec.optional:
            return None
        raise ChapterError(f"parameter {name!r} must be set (of type {spec.type}); it is not optional")
    if spec.type.startswith("list["):
        if not isinstance(value, (list, tuple)):
            raise ChapterError(f"parameter {name!r} must be of type {spec.type}, got {value!r} of type "
                               f"{_type_name(value)}")
        inner = spec.type[5:-1]
        if inner.startswith("list["):
            return [validate(f"{name}[{i}]", v, Spec(type=inner, choices=spec.choices, min=spec.min, max=spec.max))
                    for i, v in enumerate(value)]
        out = [_scalar(f"{name}[{i}]", v, inner) for i, v in enumerate(value)]
    else:
        out = _scalar(name, value, spec.type)
    for i, v in enumerate(out if isinstance(out, list) else [out]):
        if spec.type != "dict":
            _check_element(name if not isinstance(out, list) else f"{name}[{i}]", v, spec)
    return out


def coerce(name: str, value: Any, default: Any) -> Any:
    """Check ``value`` against the type of ``default`` (int → float allowed); return the coerced value."""
    return validate(name, value, spec_for(name, default))


def _numbers_from_yaml_text(value: Any) -> Any:
    """YAML 1.1 reads 1e-3 as text: turn numeric-looking strings back into numbers, inside lists too."""
    if isinstance(value, list):
        return [_numbers_from_yaml_text(v) for v in value]
    if isinstance(value, str):
        try:
            return int(value) if value.strip().lstrip("+-").isdigit() else float(value)
        except ValueError:
            return value
    return value


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
    return key, _numbers_from_yaml_text(value)


def resolve_parameters(chapter: Chapter, preset: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Preset parameters with overrides on top, validated against the notebook's parameters cell.

    Raises :class:`ChapterError` for an unknown preset, an unknown parameter name, a runner-owned
    parameter given with -p, or a value of the wrong type, naming the valid choices.
    """
    if preset not in ALL_PRESETS:
        raise ChapterError(f"unknown preset {preset!r}: choose one of {', '.join(ALL_PRESETS)}")
    defaults = notebook_defaults(chapter.source)
    own = {k: v for k, v in defaults.items() if k not in RUNNER_PARAMETERS}
    unknown = [k for k in chapter.schema if k not in own]
    if unknown:
        raise ChapterError(f"presets.yaml: {chapter.name}.schema names {', '.join(unknown)}, which the notebook's "
                           "parameters cell lacks")
    specs = {k: spec_for(k, v, chapter.schema.get(k)) for k, v in own.items()}
    params: dict[str, Any] = {}
    for key, value in chapter.presets[preset].items():
        if key not in own:
            raise ChapterError(f"presets.yaml: {chapter.name}.{preset} sets {key!r}, which the notebook's "
                               f"parameters cell lacks (it has {', '.join(sorted(own))})")
        params[key] = validate(f"{chapter.name}.{preset}.{key}", value, specs[key])
    for key, value in (overrides or {}).items():
        if key in RUNNER_PARAMETERS:
            raise ChapterError(f"parameter {key!r} is set by the runner: use {RUNNER_PARAMETERS[key]} instead of -p")
        if key not in own:
            raise ChapterError(f"unknown parameter {key!r} for chapter {chapter.name!r}: "
                               f"choose from {', '.join(sorted(own))}")
        params[key] = validate(key, value, specs[key])
    return params
