"""Run chapters (jupytext → papermill → claims check) and build the book.

The CLI and the test-suite use the same two entry points, :func:`run_chapter` and :func:`build_book`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from companion.book.chapters import (
    ChapterError,
    chapter_names,
    get_chapter,
    project_root,
    resolve_parameters,
)
from companion.core import fanout
from companion.book.claims import atomic_write_text, load_claims
from companion.book.dashboard import write_failure_page, write_generated_pages
from companion.book.execution import execute
from companion.book.pages import finalize_notebook, source_version

Log = Callable[[str], None]


@dataclass
class RunResult:
    """What one chapter run produced."""

    chapter: str
    notebook: Path
    claims_path: Path
    wall_time_s: float
    error: str | None = None
    claims: dict[str, Any] | None = None
    failing_claims: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failing_claims

    def summary(self) -> str:
        if self.error:
            return f"{self.chapter}: FAILED ({self.wall_time_s:.1f} s): {self.error}"
        cl = self.claims["claims"] if self.claims else []
        n = sum(c.get("kind", "check") == "check" for c in cl)
        if self.failing_claims:
            return (f"{self.chapter}: {len(self.failing_claims)} of {n} checks FAIL ({self.wall_time_s:.1f} s): "
                    + "; ".join(self.failing_claims))
        found = [c["outcome"] for c in cl if c.get("kind") == "finding"]
        counts = ", ".join(f"{found.count(o)} {o}" for o in dict.fromkeys(found))
        return (f"{self.chapter}: ok, {n} checks hold" + (f"; findings: {counts}" if found else "")
                + f" ({self.wall_time_s:.1f} s)")


def check_device(device: str) -> None:
    """Refuse an unknown device, or CUDA (any index) where torch sees no such GPU, before any kernel starts."""
    from companion.core.devices import resolve_device

    try:
        resolve_device(device)
    except (ValueError, RuntimeError) as exc:
        raise ChapterError(f"--device {device}: {exc}") from exc


def run_chapter(name: str, preset: str = "smoke", out_dir: str | Path = ".", *,
                data_dir: str | Path | None = None, device: str = "auto",
                overrides: Mapping[str, Any] | None = None, interactive: bool = False,
                root: Path | None = None, log: Log | None = None, progress: bool = False) -> RunResult:
    """Execute one chapter at a preset and check its claims.

    Writes ``out_dir/NAME.ipynb`` (the executed notebook) and ``out_dir/NAME.claims.json``.
    Everything is validated before the kernel starts: chapter, preset, parameter names and types,
    device and data directory. Raises :class:`ChapterError` for bad input; execution failures and
    failing claims are reported in the returned :class:`RunResult`. ``progress``: papermill's cell-level
    progress bar on stderr. The executed notebook is then made into its page form
    (:func:`companion.book.pages.finalize_notebook`).
    """
    chapter = get_chapter(name, root)
    params = resolve_parameters(chapter, preset, overrides)
    check_device(device)
    if data_dir is not None and str(data_dir) and not Path(data_dir).is_dir():
        raise ChapterError(f"--data-dir {data_dir} is not a folder: give the folder that holds mnist/ and "
                           "cifar10-jpeg/ (e.g. ../shared/data), or leave it out to use COMPANION_DATA_DIR or the cache")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    notebook = out_dir / f"{name}.ipynb"
    claims_path = out_dir / f"{name}.claims.json"
    partial = out_dir / f".{name}.partial.ipynb"
    claims_path.unlink(missing_ok=True)  # a stale file must never pass for this run's

    run_id = uuid.uuid4().hex
    plan_text, plan_numbers = plan_for(name, params, device)
    params.update(preset=preset, device=device, data_dir=str(Path(data_dir).resolve()) if data_dir else "",
                  claims_path=claims_path.name, run_id=run_id, interactive=interactive)
    log = log or (lambda s: None)
    log(f"[{name}] preset={preset} device={device} -> {notebook}")
    log(f"[{name}] {plan_text}")

    t0 = time.perf_counter()
    error = execute(chapter.source, partial, out_dir, params, progress=progress)
    wall = time.perf_counter() - t0
    place_notebook(partial, notebook, error, name, preset, chapter.title)
    result = RunResult(chapter=name, notebook=notebook, claims_path=claims_path, wall_time_s=wall, error=error)
    if error is None:
        read_claims(result, run_id, {k: v for k, v in params.items() if k not in ("claims_path", "run_id")},
                    plan_numbers)
    if notebook.exists():
        root = root or project_root()
        finalize_notebook(notebook, name, preset, result.claims, version=source_version(root))
    log(result.summary())
    return result


def place_notebook(partial: Path, notebook: Path, error: str | None, name: str, preset: str, title: str) -> None:
    """Put this run's notebook in place (complete runs, and runs stopped by a failing cell, whose traceback it
    shows); remove the partial file and any earlier notebook; write a stand-in page when there is none."""
    placeholder = notebook.with_suffix(".md")
    notebook.unlink(missing_ok=True)            # never leave an earlier run's notebook beside this run's result
    if partial.exists() and (error is None or error.startswith("cell ")):
        os.replace(partial, notebook)
    partial.unlink(missing_ok=True)
    if notebook.exists():
        placeholder.unlink(missing_ok=True)
    else:
        write_failure_page(placeholder, name, preset, error or "no notebook was written", title)


def plan_for(name: str, params: Mapping[str, Any], device: str) -> tuple[str, dict[str, Any]]:
    """``companion plan``'s estimate of this run, from the parameters the runner resolved (preset and ``-p``
    overrides), as the line the runner prints and as numbers; a chapter whose cost cannot be estimated says so
    and runs on."""
    from companion.book.plan import plan_line

    kind = "cuda" if device.startswith("cuda") or (device == "auto" and _cuda_available()) else "cpu"
    try:
        return plan_line(name, params, kind)
    except Exception as exc:  # noqa: BLE001 – an estimate must never stop a chapter
        return f"plan: no estimate ({type(exc).__name__}: {exc})", {}


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def read_claims(result: RunResult, run_id: str, params: Mapping[str, Any],
                plan: Mapping[str, Any] | None = None) -> None:
    """Load this run's claims into ``result`` (refusing a missing or stale file), recording the wall time,
    parameters and the plan's estimate (made before the run) in the file."""
    path = result.claims_path
    if not path.exists():
        result.error = "the notebook finished without saving its claims (claims.save() was not reached)"
        return
    data = load_claims(path)
    if data.get("run_id") != run_id:
        result.error = f"{path} is not from this run (stale run_id); rerun the chapter"
        return
    data["wall_time_s"] = result.wall_time_s
    data["parameters"] = dict(params)
    data["plan"] = dict(plan or {})
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    result.claims = data
    result.failing_claims = [f"{c['id']} (measured {c['measured']:.6g}, reference {c['reference']}, "
                             f"{c['comparison']} {c['tolerance']:g}): {c['description']}"
                             for c in data["claims"] if not c["holds"]]


def repository_url(root: Path) -> str:
    """``repository.url`` of the book's ``_config.yml`` ('' until a publisher sets it)."""
    import yaml

    cfg = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")) if (root / "_config.yml").exists() else {}
    return str(((cfg or {}).get("repository") or {}).get("url") or "")


def stage_book(dest: Path, root: Path | None = None) -> Path:
    """Copy the book's hand-written sources (config, toc, pages) to ``dest`` for an out-of-tree build."""
    root = root or project_root()
    dest.mkdir(parents=True, exist_ok=True)
    for f in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / f, dest / f)
    shutil.copytree(root / "book", dest / "book", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("chapters", "claims.md", "times.md", "_build"))
    return dest


def jupyter_book_command() -> list[str]:
    exe = Path(sys.executable).parent / "jupyter-book"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("jupyter-book")
    if found:
        return [found]
    return [sys.executable, "-c", "from jupyter_book.cli.main import main; main()"]


def install_mathjax(book_root: Path) -> Path:
    """Copy MathJax (from the installed package django-static-mathjax) into ``book/_static/mathjax``, so
    the built pages typeset formulas with no network. Returns the copied script."""
    from importlib import resources

    src = resources.files("mathjax").joinpath("static", "mathjax", "es5", "tex-svg-full.js")
    dest = book_root / "book" / "_static" / "mathjax" / "tex-svg-full.js"
    if not src.is_file():
        raise ChapterError("MathJax is missing: reinstall the package (pip install -e .) to get django-static-mathjax")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(src.read_bytes())
    return dest


def build_config(book_root: Path, repo_url: str | None = None) -> Path:
    """The configuration the build uses: ``_config.yml`` with ``repository.url`` replaced by ``repo_url`` when
    given, and without launch buttons while that URL is empty (the theme cannot make links without it).
    Written to ``_build/config.yml``; returns its path."""
    import yaml

    cfg = yaml.safe_load((book_root / "_config.yml").read_text(encoding="utf-8"))
    repo = cfg.setdefault("repository", {})
    if repo_url is not None:
        repo["url"] = repo_url
    if not repo.get("url"):
        cfg.pop("launch_buttons", None)
    dest = book_root / "_build" / "config.yml"
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(dest, yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    return dest


def build_html(book_root: Path, log: Log | None = None, *, repo_url: str | None = None
               ) -> subprocess.CompletedProcess[str]:
    """``jupyter-book build`` with warnings as errors; returns the finished process (output captured). Then the
    published notebooks (:func:`companion.book.publish.publish_book`, into ``_build/notebooks``). ``repo_url``: build as if ``repository.url`` were this (a placeholder, for tests of the launch buttons)."""
    install_mathjax(book_root)
    cmd = [*jupyter_book_command(), "build", str(book_root), "-W", "-n", "--keep-going", "--builder", "html",
           "--config", str(build_config(book_root, repo_url))]
    (log or (lambda s: None))("$ " + " ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=book_root)
    if done.returncode == 0:                       # the reader's notebooks: Binder, Colab, the page's download
        from companion.book.publish import publish_book

        url = repo_url if repo_url is not None else repository_url(book_root)
        publish_book(book_root, url)
    return done


@dataclass
class BookResult:
    runs: list[RunResult]
    build: subprocess.CompletedProcess[str]
    html: Path
    wall_time_s: float

    @property
    def ok(self) -> bool:
        return self.build.returncode == 0 and all(r.ok for r in self.runs)


def _stale_reason(out: Path, name: str, preset: str) -> str | None:
    """Why an earlier result of chapter ``name`` in ``out`` cannot stand in this build (None: it can)."""
    path = out / f"{name}.claims.json"
    if not path.exists() or not (out / f"{name}.ipynb").exists():
        return "no earlier result exists"
    try:
        data = load_claims(path)
    except ValueError as exc:
        return str(exc)
    if data.get("preset") != preset:
        return f"its earlier result is from the {data.get('preset')!r} preset"
    return None


def previous_wall_time(out: Path, name: str, preset: str) -> float | None:
    """The wall time of the last run of ``name`` at ``preset`` in ``out`` (None if there is none)."""
    try:
        data = load_claims(out / f"{name}.claims.json")
    except (OSError, ValueError):
        return None
    return float(data["wall_time_s"]) if data.get("preset") == preset else None


def run_chapter_task(task: dict[str, Any]) -> RunResult:
    """One chapter run as an independent task (for :func:`companion.core.fanout.map`): ``task`` holds
    run_chapter's arguments (name, preset, out_dir, data_dir, device, root)."""
    return run_chapter(task["name"], task["preset"], task["out_dir"], data_dir=task["data_dir"],
                       device=task["device"], root=Path(task["root"]))


def build_book(book_root: Path | None = None, preset: str = "cpu", *, data_dir: str | Path | None = None,
               device: str = "auto", chapters: Sequence[str] | None = None,
               log: Log | None = None, progress: bool = False, scheduler: str | None = None) -> BookResult:
    """Run every chapter at ``preset`` into ``book_root/book/chapters``, write the dashboard, build HTML.

    The book is always built, so that failing claims or a failed chapter show in it; the result's
    ``ok`` says whether everything ran and held. ``scheduler`` (``local:N`` or a Dask address): run the
    chapters as tasks on a Dask cluster instead of one after the other here (:mod:`companion.core.fanout`).
    """
    book_root = Path(book_root or project_root()).resolve()
    log = log or (lambda s: None)
    names = list(chapters or chapter_names())
    for n in names:
        get_chapter(n)  # validate every name, the device and the scheduler before running anything
    check_device(device)
    try:
        sched = fanout.resolve_scheduler(scheduler)
    except ValueError as exc:
        raise ChapterError(str(exc)) from exc
    t0 = time.perf_counter()
    out = book_root / "book" / "chapters"
    runs: list[RunResult] = []
    if sched is not None:
        log(f"== {len(names)} chapters as tasks on the Dask scheduler {sched}")
        tasks = [dict(name=n, preset=preset, out_dir=str(out), data_dir=str(data_dir) if data_dir else None,
                      device=device, root=str(project_root())) for n in names]
        runs = fanout.map(run_chapter_task, tasks, scheduler=sched)
        for r in runs:
            log(r.summary())
    for k, n in enumerate(names if sched is None else [], 1):
        last = previous_wall_time(out, n, preset)
        log(f"== chapter {k} of {len(names)}: {n}" + (f" (its last {preset} run took {last:.0f} s)" if last else ""))
        runs.append(run_chapter(n, preset, out, data_dir=data_dir, device=device, log=log, progress=progress))
    for n in chapter_names():                  # chapters not run now: kept only if built at this preset
        reason = None if n in names else _stale_reason(out, n, preset)
        if reason is not None:
            log(f"[{n}] not run now and {reason}: its page says so")
            (out / f"{n}.ipynb").unlink(missing_ok=True)
            (out / f"{n}.claims.json").unlink(missing_ok=True)
            write_failure_page(out / f"{n}.md", n, preset, f"it was not run in this build, and {reason}.",
                               get_chapter(n).title)
    write_generated_pages(out, book_root / "book", chapter_names(), preset)
    build = build_html(book_root, log)
    return BookResult(runs=runs, build=build, html=book_root / "_build" / "html" / "index.html",
                      wall_time_s=time.perf_counter() - t0)
