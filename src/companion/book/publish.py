"""The notebooks a reader opens outside the book (Binder, Colab, a plain Jupyter), made from the executed pages.

A chapter's page form (``book/chapters/NAME.ipynb``, :func:`companion.book.pages.finalize_notebook`) is written
for jupyter-book: its prose holds MyST roles (``{glue:text}`key:.3f```) and directive fences (the provenance
box is an ``{admonition}``) that only the book's Sphinx can render. :func:`published_notebook` turns it into a
notebook that reads and runs in plain Jupyter:

- every glued value is written into the Markdown (from the glue outputs of the executed notebook, formatted as
  myst-nb formats them), other roles become their text, directive fences become plain Markdown (an admonition
  a blockquote with a bold title, math a ``$$`` block), labels and MyST comments go;
- no path of the build machine remains in any string (build folders, the data folder, the interpreter, home);
- its first cell, visible, installs the package pinned to the commit that built the page (and the CPU build of
  torch where the kernel has none), printing pip's output only when it fails;
- the parameters cell holds the chapter's ``binder`` preset (it fits a free Binder: ≤ 2 GB, a few minutes)
  with ``interactive = True``, and says how to rerun the book's ``cpu`` preset.

:func:`publish_book` writes them to ``_build/notebooks/book/chapters/NAME.ipynb`` (the path the Binder and
Colab buttons open on the ``notebooks`` branch) and over the downloadable copies under ``_build/html/_sources``.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

from companion.book.claims import atomic_write_text

#: what the published notebooks install torch from where the kernel has none (the CPU build, a few hundred MB)
TORCH_PIN = "torch==2.13.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
#: the folder under ``_build`` that holds the ``notebooks`` branch's tree
NOTEBOOKS_TREE = "notebooks"

ADMONITIONS: frozenset[str] = frozenset({"admonition", "note", "warning", "tip", "important", "caution", "attention",
                                         "danger", "error", "hint", "seealso", "dropdown", "topic", "sidebar"})
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<mark>`{3,}|:{3,})\{(?P<name>[\w:.-]+)\}\s*(?P<arg>.*?)\s*$")
_GLUE_ROLE = re.compile(r"\{glue(?::(?P<kind>text|any|md))?:?\}`(?P<body>[^`]+)`")
_ROLE = re.compile(r"\{(?P<name>[\w:.-]+)\}`(?P<body>[^`]+)`")
_LABEL = re.compile(r"^\s*\([\w:.-]+\)=\s*$")
_BOOK_LINK = re.compile(r"\[(?P<text>[^\]]+)\]\((?!https?:|mailto:|#|attachment:)(?P<target>[^)\s]+\.(?:md|ipynb|html))\)")


class PublishError(ValueError):
    """A page that cannot be made into a plain notebook (e.g. a glue key that the run never glued)."""


# --------------------------------------------------------------------------------------------- glue values

def glue_values(nb: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every glued value of an executed notebook: key → mime bundle (the papermill prefix removed)."""
    out: dict[str, dict[str, Any]] = {}
    for cell in nb.get("cells", []):
        for o in cell.get("outputs", []):
            meta = (o.get("metadata") or {}).get("scrapbook")
            if meta and "name" in meta:
                k = len(meta.get("mime_prefix", ""))
                out[meta["name"]] = {m[k:]: v for m, v in (o.get("data") or {}).items()}
    return out


def _text(v: Any) -> str:
    return "".join(v) if isinstance(v, list) else str(v)


def format_plain(text: str, fmt: str) -> str:
    """A glued ``text/plain`` value formatted as myst-nb's ``{glue:text}`key:fmt``` does."""
    try:
        value: Any = ast.literal_eval(text)
    except (SyntaxError, ValueError):
        value = text
    if fmt == "":
        return str(value)
    kind = fmt[-1]
    if kind == "s":
        value = str(value)
    elif kind in "bcdoxX":
        value = int(value)
    elif kind in "eEfFgGn%":
        value = float(value)
    return format(value, fmt)


def glue_text(key_fmt: str, glue: Mapping[str, Mapping[str, Any]], kind: str | None) -> str:
    """The text a glue role shows: ``key`` or ``key:format`` (``{glue:text}``), Markdown for ``{glue:md}``."""
    if kind == "text":
        key, fmt = key_fmt.rsplit(":", 1) if ":" in key_fmt else (key_fmt, "s")
    else:
        key, fmt = key_fmt, ""
    key = key.strip()
    if key not in glue:
        raise PublishError(f"glue key {key!r} is used in the text but was never glued by the run")
    data = glue[key]
    if kind == "md" and "text/markdown" in data:
        return _text(data["text/markdown"]).strip()
    if "text/plain" not in data:
        raise PublishError(f"glue key {key!r} has no text/plain value")
    return format_plain(_text(data["text/plain"]), fmt)


# --------------------------------------------------------------------------------------------- MyST → Markdown

def _role(m: re.Match[str]) -> str:
    """A non-glue role as plain Markdown: its text (``text <target>`` → text), math as ``$…$``."""
    name, body = m.group("name"), m.group("body")
    if name == "math":
        return f"${body}$"
    if name in ("sub", "sup"):
        return f"<{name}>{body}</{name}>"
    if name == "eq":
        return f"({body})"
    if name.startswith("cite"):
        return f"[{body}]"
    shown = re.match(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", body, re.S)
    text = shown.group("text") if shown and shown.group("text") else body
    return f"`{text}`" if name in ("code", "file", "command", "kbd", "samp") else text


def resolve_roles(text: str, glue: Mapping[str, Mapping[str, Any]]) -> str:
    """Glue roles replaced by their values, links to the book's other pages by their text (the notebook has no
    such file beside it), then every other role by its text."""
    text = _GLUE_ROLE.sub(lambda m: glue_text(m.group("body"), glue, m.group("kind") or "any"), text)
    text = _BOOK_LINK.sub(lambda m: f"{m.group('text')} (a page of the book)", text)  # no such file beside it
    return _ROLE.sub(_role, text)


def _strip_options(body: list[str]) -> tuple[dict[str, str], list[str]]:
    """A directive body's leading ``:key: value`` lines (or a ``---`` YAML block), and the rest."""
    opts: dict[str, str] = {}
    i = 0
    if body and body[0].strip() == "---":
        end = next((j for j in range(1, len(body)) if body[j].strip() == "---"), None)
        if end is not None:
            for line in body[1:end]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    opts[k.strip()] = v.strip()
            i = end + 1
    while i < len(body) and re.match(r"^\s*:[\w-]+:", body[i]):
        k, _, v = body[i].strip()[1:].partition(":")
        opts[k] = v.strip()
        i += 1
    while i < len(body) and not body[i].strip():
        i += 1
    return opts, body[i:]


def _quote(lines: list[str]) -> list[str]:
    return [f"> {line}".rstrip() for line in lines]


def _glue_figure(key: str, glue: Mapping[str, Mapping[str, Any]], caption: str,
                 attachments: dict[str, Any]) -> list[str]:
    if key not in glue:
        raise PublishError(f"glue key {key!r} is used in the text but was never glued by the run")
    data = glue[key]
    for mime in ("image/png", "image/jpeg", "image/svg+xml"):
        if mime in data:
            fname = f"{key}.{mime.split('/')[1].split('+')[0]}"
            attachments[fname] = {mime: _text(data[mime])}
            return [f"![{caption or key}](attachment:{fname})"] + ([f"", f"*{caption}*"] if caption else [])
    if "text/markdown" in data:
        return _text(data["text/markdown"]).splitlines()
    return [format_plain(_text(data.get("text/plain", "")), "")]


def _directive(name: str, arg: str, body: list[str], glue: Mapping[str, Mapping[str, Any]],
               attachments: dict[str, Any]) -> list[str]:
    """One directive fence as plain Markdown lines."""
    opts, rest = _strip_options(body)
    if name in ("math", "glue:math", "equation"):
        inner = [glue_text(arg, glue, "any")] if name == "glue:math" else rest
        return ["$$", *inner, "$$"]
    if name in ("glue", "glue:", "glue:any", "glue:md", "glue:figure"):
        caption = " ".join(_myst_lines(rest, glue, attachments)).strip()
        return _glue_figure(arg, glue, caption, attachments)
    if name in ("code", "code-block", "code-cell", "sourcecode"):
        return [f"```{arg}", *rest, "```"]
    if name in ("figure", "image"):
        caption = " ".join(_myst_lines(rest, glue, attachments)).strip()
        return [f"![{opts.get('alt', caption or arg)}]({arg})"] + ([f"", f"*{caption}*"] if caption else [])
    inner = _myst_lines(rest, glue, attachments)
    if name in ADMONITIONS:
        title = arg if name in ("admonition", "dropdown", "topic", "sidebar") and arg else (
            name.capitalize() + (f": {arg}" if arg else ""))
        return _quote([f"**{resolve_roles(title, glue)}**", "", *inner])
    return inner                                   # an unknown directive: its content, as text


def _myst_lines(lines: list[str], glue: Mapping[str, Mapping[str, Any]], attachments: dict[str, Any]) -> list[str]:
    out: list[str] = []
    i = 0
    in_code: str | None = None
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if in_code is not None:                    # a plain code block: copied as it is
            out.append(line)
            if line.strip().startswith(in_code) and line.strip().strip(in_code[0]) == "":
                in_code = None
            i += 1
            continue
        if fence is None and re.match(r"^\s*(`{3,}|~{3,})", line):
            in_code = re.match(r"^\s*(`{3,}|~{3,})", line).group(1)
            out.append(line)
            i += 1
            continue
        if fence is not None:
            mark = fence.group("mark")
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == mark), None)
            if end is None:
                raise PublishError(f"directive {{{fence.group('name')}}} is never closed (by {mark})")
            block = _directive(fence.group("name"), fence.group("arg"), lines[i + 1:end], glue, attachments)
            out.extend(fence.group("indent") + b if b else b for b in block)
            i = end + 1
            continue
        if _LABEL.match(line) or re.match(r"^\s*%", line) or line.strip() == "+++":
            i += 1                                 # a target label, a MyST comment, a block break
            continue
        out.append(resolve_roles(line, glue))
        i += 1
    return out


def myst_to_markdown(text: str, glue: Mapping[str, Mapping[str, Any]],
                     attachments: dict[str, Any] | None = None) -> str:
    """MyST Markdown as plain (Jupyter) Markdown: glue values written in, fences and roles resolved.
    ``attachments`` collects the images a ``{glue:figure}`` needs (the cell's ``attachments``)."""
    return "\n".join(_myst_lines(text.split("\n"), glue, {} if attachments is None else attachments))


# --------------------------------------------------------------------------------------------- paths

def scrub_paths(obj: Any, replacements: Mapping[str, str]) -> Any:
    """``obj`` (JSON-like) with every string's build-machine paths replaced, longest path first."""
    pairs = sorted(((p, r) for p, r in replacements.items() if p and len(p) > 1), key=lambda pr: -len(pr[0]))

    def fix(s: str) -> str:
        for p, r in pairs:
            s = s.replace(p, r)
        return s

    def walk(x: Any) -> Any:
        if isinstance(x, str):
            return fix(x)
        if isinstance(x, list):
            return [walk(v) for v in x]
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        return x

    return walk(obj)


def machine_paths(nb: Mapping[str, Any], folders: Iterable[str | Path]) -> dict[str, str]:
    """Paths of the build machine a notebook may carry → what a reader's copy says instead: the given
    folders (build and project roots) → ``.``, the data folder of the run → ``<data_dir>``, the interpreter's
    prefixes → ``<python>``, home → ``~``."""
    out: dict[str, str] = {}
    for f in folders:
        p = str(Path(f).resolve())
        out[p + "/"] = ""
        out[p] = "."
    for cell in nb.get("cells", []):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            m = re.search(r'^data_dir\s*=\s*(["\'])(.+?)\1', _text(cell["source"]), re.M)
            if m:
                out[m.group(2)] = "<data_dir>"
    for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        out[p] = "<python>"
    out[str(Path.home())] = "~"
    return out


# --------------------------------------------------------------------------------------------- cells

def install_cell_source(repo_url: str, sha: str) -> str:
    """The first cell of a published notebook: install the package at commit ``sha`` where it is missing."""
    if repo_url and sha:
        target = f"companion @ git+{repo_url.rstrip('/')}.git@{sha}"
        install = ("    run([sys.executable, '-m', 'pip', 'install', '-q', " + repr(target) + "])\n")
    else:
        install = ("    raise RuntimeError('install the companion package first: pip install -e \".[reader]\" in a clone "
                   "of its repository')\n")
    return (
        f"# Installs the companion package at commit {sha[:12] or '(unknown)'}, which ran this notebook for the book,\n"
        f"# where this kernel lacks it (Colab; Binder and a local clone have it already). pip prints only on failure.\n"
        "import importlib, importlib.util, subprocess, sys\n"
        "\n"
        "def run(cmd):\n"
        "    done = subprocess.run(cmd, capture_output=True, text=True)\n"
        "    if done.returncode:\n"
        "        raise RuntimeError(' '.join(cmd) + ' failed:\\n' + done.stdout[-3000:] + done.stderr[-3000:])\n"
        "\n"
        "if importlib.util.find_spec('companion') is None:\n"
        "    if importlib.util.find_spec('torch') is None:\n"
        f"        run([sys.executable, '-m', 'pip', 'install', '-q', {TORCH_PIN!r}, '--index-url', {TORCH_CPU_INDEX!r}])\n"
        + install +
        "    importlib.invalidate_caches()\n")


def _literal(v: Any) -> str:
    """A Python literal as the chapters' parameters cells write it (strings in double quotes)."""
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_literal(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(x)}" for k, x in v.items()) + "}"
    return repr(v)


def _assignments(values: Mapping[str, Any]) -> list[str]:
    return [f"{k} = {_literal(v)}" for k, v in values.items()]


def parameters_cell_source(name: str, binder: Mapping[str, Any], cpu: Mapping[str, Any], built: str) -> str:
    """The reader's parameters cell: the ``binder`` preset, live, and the ``cpu`` one, commented out."""
    runner = dict(device="auto", data_dir="", claims_path=f"{name}.claims.json", run_id="", interactive=True)
    same = dict(binder) == dict(cpu)
    lines = [
        "# Parameters: the `binder` preset, which fits a free Binder or Colab (≤ 2 GB of memory, a few minutes).",
        f"# The outputs saved below and the numbers in the text are from the book's build ({built}).",
        *(["# Here `binder` has the values of the book's `cpu` preset."] if same else [
            "# To rerun the book's `cpu` preset instead, uncomment the block at the end of this cell (more memory",
            f"# and time: see `companion plan --preset cpu`), or in a terminal: companion run {name} --preset cpu --out ."]),
        "# data_dir = \"\": data sets from $COMPANION_DATA_DIR, else downloaded (with checksums) into ~/.cache/companion.",
        "# device = \"auto\": a GPU where there is one (Colab: Runtime → Change runtime type), else the CPU.",
        'preset = "binder"',
        *_assignments(runner),
        *_assignments(binder),
    ]
    if not same:
        lines += ["", '# preset = "cpu"', *("# " + a for a in _assignments(cpu))]
    return "\n".join(lines) + "\n"


def published_notebook(page: Mapping[str, Any], name: str, *, binder: Mapping[str, Any], cpu: Mapping[str, Any],
                       repo_url: str, sha: str, folders: Iterable[str | Path]) -> dict[str, Any]:
    """The plain-Jupyter notebook a reader opens, from the executed page form ``page`` (see the module docstring).
    ``binder`` / ``cpu``: the chapter's parameters at those presets; ``folders``: the build's folders, none of
    which the result names."""
    nb = copy.deepcopy(dict(page))
    glue = glue_values(nb)
    paths = machine_paths(nb, folders)
    built = f"preset {nb.get('metadata', {}).get('papermill', {}).get('parameters', {}).get('preset', '?')}, " \
            f"commit {sha[:12] or 'unknown'}"
    cells: list[dict[str, Any]] = []
    params_done = False
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "colab-install" in tags:
            continue
        if "injected-parameters" in tags:
            continue
        if "parameters" in tags:
            if params_done:
                continue
            params_done = True
            cell = {"id": cell.get("id", "parameters"), "cell_type": "code", "execution_count": None,
                    "metadata": {"tags": ["parameters"]}, "outputs": [],
                    "source": parameters_cell_source(name, binder, cpu, built)}
        elif cell["cell_type"] == "markdown":
            attachments: dict[str, Any] = dict(cell.get("attachments") or {})
            cell = dict(cell, source=myst_to_markdown(_text(cell["source"]), glue, attachments))
            if attachments:
                cell["attachments"] = attachments
        elif cell["cell_type"] == "code":
            outs = []
            for o in cell.get("outputs", []):
                if (o.get("metadata") or {}).get("scrapbook"):
                    continue                       # glue records: written into the text above
                if "text/markdown" in (o.get("data") or {}):
                    o = dict(o, data=dict(o["data"], **{"text/markdown": myst_to_markdown(
                        _text(o["data"]["text/markdown"]), glue)}))
                outs.append(o)
            cell = dict(cell, outputs=outs)
        cells.append(cell)
    install = {"id": "install", "cell_type": "code", "execution_count": None,
               "metadata": {"tags": ["install", "hide-output"], "jupyter": {"outputs_hidden": True}},
               "outputs": [], "source": install_cell_source(repo_url, sha)}
    nb["cells"] = [install, *cells]
    meta = {k: v for k, v in nb.get("metadata", {}).items() if k != "papermill"}
    meta["companion"] = {"chapter": name, "commit": sha, "preset": "binder"}
    nb["metadata"] = meta
    return scrub_paths(nb, paths)


# --------------------------------------------------------------------------------------------- the book

def commit_sha(root: Path) -> str:
    """The full commit of the checkout at ``root`` ('' where there is none)."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def publish_book(book_root: Path, repo_url: str, *, root: Path | None = None) -> list[Path]:
    """Write the published form of every executed chapter of the built book at ``book_root``: to
    ``_build/notebooks/book/chapters/NAME.ipynb`` and over ``_build/html/_sources/book/chapters/NAME.ipynb``
    (the page's download). Returns the files written under ``_build/notebooks``."""
    from companion.book.chapters import chapter_names, get_chapter, project_root, resolve_parameters

    root = root or project_root()
    sha = commit_sha(root)
    src = book_root / "book" / "chapters"
    tree = book_root / "_build" / NOTEBOOKS_TREE / "book" / "chapters"
    sources = book_root / "_build" / "html" / "_sources" / "book" / "chapters"
    written = []
    for name in chapter_names():
        page_path = src / f"{name}.ipynb"
        if not page_path.exists():
            continue
        ch = get_chapter(name, root)
        nb = published_notebook(json.loads(page_path.read_text(encoding="utf-8")), name,
                                binder=resolve_parameters(ch, "binder"), cpu=resolve_parameters(ch, "cpu"),
                                repo_url=repo_url, sha=sha, folders=[book_root, root, src])
        text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        tree.mkdir(parents=True, exist_ok=True)
        atomic_write_text(tree / page_path.name, text)
        if sources.is_dir():
            atomic_write_text(sources / page_path.name, text)
        written.append(tree / page_path.name)
    return written
