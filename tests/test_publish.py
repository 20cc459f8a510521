"""The notebooks a reader opens outside the book (companion.book.publish), the files a reader installs from
(environment.yml, the extras), the citation, and the front page's colophon.

The slow tests build the published notebooks from the smoke book and run one of them with plain
``jupyter nbconvert --execute`` in a venv holding only the package and its ``[reader]`` extra (no jupyter-book).
That venv is made with ``python -m venv``, ``pip install torch==2.13.0`` and ``pip install -c constraints.txt
-e .[reader]`` through the machine's own pip configuration (here a local mirror: no network), and cached under
``~/.cache/companion`` keyed by this checkout, pyproject.toml and constraints.txt;
``COMPANION_TEST_FRESH_READER_VENV=1`` makes a new one in the test's temporary folder instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from companion.book import dashboard, plan, publish
from companion.book.chapters import chapter_names, get_chapter, resolve_parameters
from companion.book.pages import finalize_notebook, provenance_markdown
from conftest import NETGUARD, ROOT

MYST_LEFT = re.compile(r"\{glue|```\{|:::\{|\{doc\}`|\{ref\}`|\{numref\}`|\{math\}`|^\([\w:.-]+\)=\s*$", re.M)
#: the chapter the clean-venv test runs (its binder preset = cpu, ~15 s on 2 cores, no data files)
READER_RUN = "shapley_folkman"


# --------------------------------------------------------------------------------------------- MyST → Markdown

GLUE = {"g_ratio": {"text/plain": "0.08663448837709473"}, "g_n": {"text/plain": "12500"},
        "g_name": {"text/plain": "'cpu (2 threads)'"}, "g_md": {"text/markdown": "**bold**", "text/plain": "'x'"}}


def test_glued_values_are_formatted_as_myst_nb_formats_them():
    variables = pytest.importorskip("myst_nb.core.variables")
    cases = [("0.08663448837709473", ".3f"), ("0.08663448837709473", ".2e"), ("0.08663448837709473", ".0%"),
             ("12500", ","), ("12500", "d"), ("12500", ".3g"), ("'cpu (2 threads)'", "s"), ("'cpu'", ""),
             ("True", "s"), ("[1, 2]", "s"), ("3.0", ".1f"), ("not a literal", "s")]
    for text, fmt in cases:
        assert publish.format_plain(text, fmt) == variables.format_plain_text(text, fmt), (text, fmt)


def test_myst_becomes_plain_markdown():
    text = "\n".join([
        "(sec-a)=",
        "## A",
        "The ratio is {glue:text}`g_ratio:.3f` over {glue:text}`g_n:,` runs on {glue:text}`g_name`; "
        "{glue}`g_n` plain, {glue:md}`g_md` as Markdown, see {doc}`the dashboard <../claims>` and {ref}`sec-a`,",
        "with {math}`x^2` inline and a [link](../rerun.md) to the book.",
        "% a MyST comment",
        "```{admonition} How this page was made",
        ":class: note provenance",
        "",
        "Preset **cpu** ({glue:text}`g_ratio:.1e`).",
        "```",
        ":::{note}",
        "Careful.",
        ":::",
        "```{math}",
        "a = b",
        "```",
        "```python",
        "x = '{glue:text}`g_n`'  # code stays as it is",
        "```",
    ])
    assert publish.myst_to_markdown(text, GLUE).split("\n") == [
        "## A",
        "The ratio is 0.087 over 12,500 runs on cpu (2 threads); 12500 plain, **bold** as Markdown, see the dashboard "
        "and sec-a,",
        "with $x^2$ inline and a link (a page of the book) to the book.",
        "> **How this page was made**",
        ">",
        "> Preset **cpu** (8.7e-02).",
        "> **Note**",
        ">",
        "> Careful.",
        "$$",
        "a = b",
        "$$",
        "```python",
        "x = '{glue:text}`g_n`'  # code stays as it is",
        "```",
    ]


def test_a_glue_key_the_run_never_glued_is_refused_by_name():
    with pytest.raises(publish.PublishError, match="g_missing"):
        publish.myst_to_markdown("value {glue:text}`g_missing:.2f`", GLUE)
    with pytest.raises(publish.PublishError, match="never closed"):
        publish.myst_to_markdown("```{note}\nopen", GLUE)


def test_a_glued_figure_becomes_an_attached_image():
    att: dict = {}
    out = publish.myst_to_markdown("```{glue:figure} g_fig\n:name: fig-a\n\nThe caption.\n```",
                                   {"g_fig": {"image/png": "iVBORw0KGgo="}}, att)
    assert out.splitlines()[0] == "![The caption.](attachment:g_fig.png)" and att == {"g_fig.png": {"image/png": "iVBORw0KGgo="}}


def test_paths_are_scrubbed_longest_first_in_every_string():
    obj = {"a": ["/build/root/book/chapters/x.json", {"b": "see /build/root and /data/sets/mnist"}], "n": 3}
    out = publish.scrub_paths(obj, {"/build/root/book/chapters/": "", "/build/root": ".", "/data/sets": "<data_dir>"})
    assert out == {"a": ["x.json", {"b": "see . and <data_dir>/mnist"}], "n": 3}


def _executed_page(tmp_path: Path, name: str = "theorem1") -> tuple[Path, Path, Path]:
    """A small executed chapter as papermill leaves it (parameters, injected parameters, a glue record, a stream
    naming the build folders), made into its page form by finalize_notebook; returns (page, build dir, data dir)."""
    build, data = tmp_path / "build" / "book" / "chapters", tmp_path / "machine-data"
    build.mkdir(parents=True)
    data.mkdir()
    glue_out = {"output_type": "display_data", "metadata": {"scrapbook": {"name": "t1_ratio_id",
                "mime_prefix": "application/papermill.record/"}},
                "data": {"application/papermill.record/text/plain": "0.08663448837709473"}}
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "# Theorem 1"},
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "outputs": [], "execution_count": 1,
         "source": 'preset = "smoke"\ndata_dir = ""'},
        {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}, "outputs": [], "execution_count": 2,
         "source": f'# Parameters\npreset = "cpu"\ndata_dir = "{data}"\nclaims_path = "theorem1.claims.json"\n'},
        {"cell_type": "code", "metadata": {}, "execution_count": 3, "source": "setup()",
         "outputs": [{"output_type": "stream", "name": "stdout",
                      "text": f"data: {data}/mnist; store {build}/theorem1.sweep; python {sys.prefix}/bin/python\n"}]},
        {"cell_type": "code", "metadata": {}, "execution_count": 4, "source": "glue()", "outputs": [glue_out]},
        {"cell_type": "markdown", "metadata": {}, "source": "The ratio is {glue:text}`t1_ratio_id:.3f`."},
    ]
    nb = {"nbformat": 4, "nbformat_minor": 5, "cells": cells,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                       "papermill": {"input_path": str(build / ".theorem1.source.ipynb"),
                                     "output_path": str(build / ".theorem1.partial.ipynb"),
                                     "parameters": {"preset": "cpu", "data_dir": str(data)}}}}
    page = build / f"{name}.ipynb"
    page.write_text(json.dumps(nb))
    claims = {"device": "cpu", "seed": 0, "wall_time_s": 42.0, "data": [f"synthetic, read from {data}"]}
    finalize_notebook(page, name, "cpu", claims, version="companion 0.1.0 (git abc1234)")
    return page, build.parents[1], data


def test_a_page_becomes_a_plain_notebook_that_installs_its_commit(tmp_path):
    page, build, data = _executed_page(tmp_path)
    ch = get_chapter("theorem1")
    binder, cpu = resolve_parameters(ch, "binder"), resolve_parameters(ch, "cpu")
    nb = publish.published_notebook(json.loads(page.read_text()), "theorem1", binder=binder, cpu=cpu,
                                    repo_url="https://github.com/o/r/", sha="0123456789abcdef" * 2 + "01234567",
                                    folders=[build, build / "book" / "chapters"])
    first = nb["cells"][0]
    assert first["cell_type"] == "code" and "remove-cell" not in first["metadata"]["tags"]
    assert first["metadata"]["jupyter"]["outputs_hidden"] is True
    assert "'companion @ git+https://github.com/o/r.git@0123456789abcdef0123456789abcdef01234567'" in first["source"]
    assert "'torch==2.13.0', '--index-url', 'https://download.pytorch.org/whl/cpu'" in first["source"]
    compile(first["source"], "install", "exec")
    params = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1 and not any("injected-parameters" in c["metadata"].get("tags", []) for c in nb["cells"])
    env: dict = {}
    exec(params[0]["source"], env)                                     # noqa: S102 – our own generated cell
    assert env["preset"] == "binder" and env["interactive"] is True and env["data_dir"] == ""
    assert {k: env[k] for k in binder} == binder
    text = json.dumps(nb)
    assert "The ratio is 0.087." in [c["source"] for c in nb["cells"] if c["cell_type"] == "markdown"]
    assert "> **How this page was made**" in text and "{admonition}" not in text and "{glue" not in text
    assert "scrapbook" not in text and "papermill" not in nb["metadata"]
    for p in (str(tmp_path), str(data), str(build), sys.prefix):
        assert p not in text, p
    assert "data: <data_dir>/mnist; store theorem1.sweep; python <python>/bin/python" in text


# --------------------------------------------------------------------------------------------- presets, installs

def test_the_binder_preset_fits_a_free_binder():
    fake = plan.Machine(name="fake", gemm=1e11, gemm_tc=1e11, bandwidth=2e10, op=2e-6, assign=1e-10, eig=2e-9,
                        memory=24e9, measured=True, load=0.0)
    for name in chapter_names():
        ch = get_chapter(name)
        binder = resolve_parameters(ch, "binder")
        smoke, cpu = resolve_parameters(ch, "smoke"), resolve_parameters(ch, "cpu")
        assert binder in (smoke, cpu), f"{name}: binder is neither smoke nor cpu"
        est = plan.estimate(plan.chapter_stages(name, binder), fake, fake)
        assert est.peak <= 2.0e9, f"{name}: binder peak {est.peak / 1e9:.2f} GB is above a free Binder's 2 GB"
        if binder == cpu and binder != smoke:
            assert plan.MEASURED_CPU_S[name] <= 90, f"{name}: cpu took {plan.MEASURED_CPU_S[name]} s, too long for Binder"


def _pins(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        m = re.match(r"^\s*([A-Za-z0-9_.-]+)==([^\s;#]+)", line)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def test_environment_yml_follows_constraints_and_holds_no_book_tools():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-c constraints.txt" in pip and "-e ." in pip
    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())
    torch_pin = re.search(r"^TORCH \?= (\S+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert torch_pin in pip and torch_pin == publish.TORCH_PIN
    for name, version in _pins(pip).items():
        assert name == "torch" or constraints.get(name) == version, f"environment.yml pins {name}=={version}"
    named = " ".join(map(str, env["dependencies"])).lower()
    assert not any(t in named for t in ("jupyter-book", "sphinx", "myst")), named


def test_book_tools_live_in_the_book_extra_and_the_makefile_installs_it():
    tomllib = pytest.importorskip("tomllib")                             # Python ≥ 3.11
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(meta["dependencies"]).lower()
    extras = meta["optional-dependencies"]
    assert not any(t in base for t in ("jupyter-book", "sphinx", "mathjax", "jupyterlab"))
    assert any(r.startswith("jupyter-book") for r in extras["book"])
    assert {r.split(">")[0].split("=")[0] for r in extras["reader"]} >= {"jupyterlab", "nbconvert"}
    make = (ROOT / "Makefile").read_text()
    assert '-e ".[test,book]"' in make and re.search(r"^lab:", make, re.M)
    ignored = subprocess.run(["git", "check-ignore", "notebooks/theorem1.claims.json", "notebooks/theorem1.ipynb",
                              "notebooks/hitting_rate.sweep/x", "book/colophon.md"], cwd=ROOT, capture_output=True,
                             text=True)
    if ignored.returncode != 128:                                      # 128: not a git checkout
        assert len(ignored.stdout.split()) == 4, ignored.stdout


# --------------------------------------------------------------------------------------------- citation, colophon

def test_citation_cff_is_valid_cff_1_2_and_the_front_page_cites_it_as_bibtex():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "tests" / "data" / "cff-1.2.0.schema.json").read_text())
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    assert [e.message for e in validator.iter_errors(cff)] == []
    assert list(validator.iter_errors(dict(cff, authors="nobody")))          # the schema does reject bad files
    text = dashboard.colophon_markdown("companion 0.1.0 (git abc1234)", "2026-12-02 03:00 UTC", cff, year=2026,
                                       commit="abc1234def56")
    assert "Built 2026-12-02 03:00 UTC from companion 0.1.0 (git abc1234)" in text
    bib = text.split("```bibtex\n", 1)[1].split("```", 1)[0]
    assert bib.count("@") == 1 + len(cff["references"]) and "note = {commit abc1234def56}" in bib
    assert bib.count("{") == bib.count("}")
    assert "author = {Zhang, Hongyang and Shao, Junru and Salakhutdinov, Ruslan}" in bib


# --------------------------------------------------------------------------------------------- the built book

pytest_slow = pytest.mark.slow


def _notebooks(book_root: Path) -> Path:
    return book_root / "_build" / publish.NOTEBOOKS_TREE / "book" / "chapters"


@pytest_slow
def test_the_published_notebooks_are_plain_jupyter(built_book, book_root):
    nbformat = pytest.importorskip("nbformat")
    assert built_book.returncode == 0, built_book.stdout[-3000:] + built_book.stderr[-3000:]
    for name in chapter_names():
        path = _notebooks(book_root) / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert "companion" in nb.cells[0].source and "pip" in nb.cells[0].source, name
        for cell in nb.cells:
            texts = [cell.source] + [str(o.get("data", {}).get("text/markdown", "")) for o in cell.get("outputs", [])]
            for t in texts:
                assert not MYST_LEFT.search(t), f"{name}: MyST left in {t[:200]!r}"
        params = next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        assert 'preset = "binder"' in params and "interactive = True" in params, name
        sources = book_root / "_build" / "html" / "_sources" / "book" / "chapters" / f"{name}.ipynb"
        assert sources.read_text() == path.read_text(), f"{name}: the page's download is not the published notebook"


@pytest_slow
def test_no_ipynb_under_the_build_carries_a_path_of_the_build_machine(built_book, book_root, chapter_data_dir):
    machine = {str(ROOT), str(book_root), str(chapter_data_dir), str(Path.home()) + "/", sys.prefix}
    files = sorted((book_root / "_build" / "html").rglob("*.ipynb")) + sorted(_notebooks(book_root).glob("*.ipynb"))
    assert len(files) >= 2 * len(chapter_names())
    for f in files:
        text = f.read_text(errors="replace")
        leaks = [p for p in machine if p and p in text]
        assert not leaks, f"{f.relative_to(book_root)} names {leaks}"


def _reader_venv(tmp_path_factory) -> Path:
    """A venv with only torch, the package and its [reader] extra (see the module docstring)."""
    key = hashlib.sha256(b"".join([str(ROOT).encode(), (ROOT / "pyproject.toml").read_bytes(),
                                   (ROOT / "constraints.txt").read_bytes(), sys.version.encode()])).hexdigest()[:16]
    if os.environ.get("COMPANION_TEST_FRESH_READER_VENV", "") not in ("", "0"):
        final = tmp_path_factory.mktemp("reader") / "venv"
    else:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "companion"
        final = cache / f"reader-venv-{key}"
    if (final / ".complete").exists():
        return final
    shutil.rmtree(final, ignore_errors=True)              # an earlier attempt that did not finish
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COMPANION_NET_LOG", "PIP_REQUIRE_VIRTUALENV")}
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(final)], check=True, env=env)
    pip = [str(final / "bin" / "python"), "-m", "pip", "install", "-q", "--no-input"]
    torch = subprocess.run([*pip, publish.TORCH_PIN], capture_output=True, text=True, env=env)
    if torch.returncode:
        pytest.skip(f"cannot install {publish.TORCH_PIN} here without a network: {torch.stderr[-500:]}")
    done = subprocess.run([*pip, "-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[reader]"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, "pip install -e .[reader] failed:\n" + done.stdout[-2000:] + done.stderr[-3000:]
    (final / ".complete").touch()
    return final


@pytest_slow
def test_a_published_notebook_runs_in_plain_jupyter_without_jupyter_book(built_book, book_root, tmp_path_factory,
                                                                          _offline_processes):
    venv = _reader_venv(tmp_path_factory)
    python = str(venv / "bin" / "python")
    absent = subprocess.run([python, "-c", "import importlib.util as u; print([m for m in ('jupyter_book', 'myst_nb', "
                             "'sphinx', 'mathjax') if u.find_spec(m)])"], capture_output=True, text=True)
    assert absent.stdout.strip() == "[]", absent.stdout + absent.stderr
    run_dir = tmp_path_factory.mktemp("reader_run")
    shutil.copy(_notebooks(book_root) / f"{READER_RUN}.ipynb", run_dir / f"{READER_RUN}.ipynb")
    env = {k: v for k, v in os.environ.items() if k not in ("COMPANION_ROOT", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(NETGUARD),
               JUPYTER_DATA_DIR=str(run_dir / "jupyter-data"), JUPYTER_CONFIG_DIR=str(run_dir / "jupyter-config"))
    before = _offline_processes.read_text()
    done = subprocess.run([str(venv / "bin" / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                           f"{READER_RUN}.ipynb", "--output", "executed.ipynb",
                           "--ExecutePreprocessor.timeout=900"],
                          cwd=run_dir, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    executed = json.loads((run_dir / "executed.ipynb").read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors, errors[:1]
    claims = json.loads((run_dir / f"{READER_RUN}.claims.json").read_text())
    assert claims["preset"] == "binder"
    failing = [c["id"] for c in claims["claims"] if c.get("kind", "check") != "finding" and not c["holds"]]
    assert not failing, failing
    assert _offline_processes.read_text() == before, "the reader's run tried the network"


def test_the_workflow_pushes_the_published_notebooks_where_the_launch_buttons_point():
    flow = (ROOT / ".github" / "workflows" / "book.yml").read_text()
    assert f"cp _build/{publish.NOTEBOOKS_TREE}/book/chapters/*.ipynb" in flow    # publish_book's tree …
    assert 'cp "$tmp"/*.ipynb book/chapters/' in flow                            # … at the buttons' book/chapters/
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["repository"]["branch"] == "notebooks" and cfg["repository"]["path_to_book"] == ""


def test_a_binder_preset_is_a_mapping_a_presets_name_or_else_smoke(monkeypatch):
    from companion.book import chapters

    base = {"smoke": {"seed": 0}, "cpu": {"seed": 1}, "paper": {"seed": 2}}
    table = {"a": {"presets": dict(base)}, "b": {"presets": dict(base, binder="cpu")},
             "c": {"presets": dict(base, binder={"seed": 3})}, "d": {"presets": dict(base, binder="fast")}}
    monkeypatch.setattr(chapters, "_preset_table", lambda: table)
    assert [chapters.get_chapter(n, ROOT).presets["binder"] for n in "abc"] == [{"seed": 0}, {"seed": 1}, {"seed": 3}]
    with pytest.raises(chapters.ChapterError, match="d.binder must be a mapping or one of smoke, cpu, paper"):
        chapters.get_chapter("d", ROOT)


@pytest_slow
def test_the_front_page_shows_the_build_date_commit_and_bibtex(built_book, book_root):
    assert built_book.returncode == 0, built_book.stdout[-3000:] + built_book.stderr[-3000:]
    front = re.sub(r"<[^>]+>", "", (book_root / "_build" / "html" / "book" / "intro.html").read_text())
    assert re.search(r"Built \d{4}-\d\d-\d\d \d\d:\d\d UTC from companion \S+ \((git [0-9a-f]{7}|no git checkout)", front)
    assert "@software{companion," in front and "@inproceedings{zhang2019deep," in front
