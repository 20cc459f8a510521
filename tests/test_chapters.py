"""Presets, parameters cells and the command line's validation."""

import subprocess
import sys

import pytest
import yaml

from companion.book import cli
from companion.book.chapters import (
    PRESETS,
    RUNNER_PARAMETERS,
    ChapterError,
    chapter_names,
    Spec,
    coerce,
    get_chapter,
    notebook_defaults,
    parse_override,
    resolve_parameters,
    spec_for,
    validate,
)
from conftest import ROOT


@pytest.mark.parametrize("name", chapter_names())
def test_parameters_cell_defaults_equal_smoke_preset(name):
    ch = get_chapter(name)
    defaults = notebook_defaults(ch.source)
    for key in RUNNER_PARAMETERS:
        assert key in defaults, f"{name}: parameters cell lacks runner parameter {key!r}"
    own = {k: v for k, v in defaults.items() if k not in RUNNER_PARAMETERS}
    assert own == dict(ch.presets["smoke"]), f"{name}: parameters cell defaults differ from the smoke preset"
    assert defaults["preset"] == "smoke"


@pytest.mark.parametrize("name", chapter_names())
@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_key_exists_and_type_checks(name, preset):
    ch = get_chapter(name)
    params = resolve_parameters(ch, preset)  # raises on an unknown key or a wrong type
    assert set(params) <= set(notebook_defaults(ch.source))


def test_toc_lists_exactly_the_chapters():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    listed = [f.split("/")[-1] for f in files if f.startswith("book/chapters/")]
    assert listed == chapter_names()


def test_coerce_types():
    assert coerce("a", 3, 1.0) == 3.0 and isinstance(coerce("a", 3, 1.0), float)
    assert coerce("l", [1, 2], [0.5]) == [1.0, 2.0]
    for value, default in ((1.5, 1), (True, 1), ("x", 1.0), (1, True), (1, "s"), ("x", [1])):
        with pytest.raises(ChapterError, match="must be of type"):
            coerce("p", value, default)


def test_parse_override():
    assert parse_override("N=3") == ("N", 3)
    assert parse_override("tol=1e-3") == ("tol", 1e-3)
    assert parse_override("gamma_ratios=[1e-3, 0.5, 2]") == ("gamma_ratios", [1e-3, 0.5, 2])
    assert parse_override("xs=[1, 2]") == ("xs", [1, 2])
    with pytest.raises(ChapterError, match="KEY=VALUE"):
        parse_override("N")


def test_resolve_parameters_refusals():
    ch = get_chapter("shapley_folkman")
    with pytest.raises(ChapterError, match="unknown preset 'huge'.*smoke, cpu, paper"):
        resolve_parameters(ch, "huge")
    with pytest.raises(ChapterError, match="unknown parameter 'bogus'.*choose from"):
        resolve_parameters(ch, "smoke", {"bogus": 1})
    with pytest.raises(ChapterError, match="must be of type int"):
        resolve_parameters(ch, "smoke", {"N": "many"})
    with pytest.raises(ChapterError, match="use --device"):
        resolve_parameters(ch, "smoke", {"device": "cpu"})
    assert resolve_parameters(ch, "cpu", {"N": 50})["N"] == 50


def test_cli_list(capsys):
    assert cli.main(["list"]) == 0
    assert capsys.readouterr().out.split() == chapter_names()


def test_cli_refuses_before_running(capsys, tmp_path):
    assert cli.main(["run", "nosuch", "--preset", "smoke", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown chapter 'nosuch'" in err and "shapley_folkman" in err
    assert cli.main(["run", "shapley_folkman", "--preset", "smoke", "--out", str(tmp_path), "-p", "N=abc"]) == 2
    assert "must be of type int" in capsys.readouterr().err
    assert cli.main(["run", "shapley_folkman", "--preset", "smoke", "--out", str(tmp_path), "-p", "nope=1"]) == 2
    assert "unknown parameter 'nope'" in capsys.readouterr().err
    assert cli.main(["run", "shapley_folkman", "--preset", "smoke", "--data-dir", str(tmp_path / "no"),
                     "--out", str(tmp_path)]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing ran, nothing was written
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "shapley_folkman", "--preset", "huge"])
    assert e.value.code == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err


def test_python_dash_m_companion():
    out = subprocess.run([sys.executable, "-m", "companion", "list"], capture_output=True, text=True, check=True)
    assert out.stdout.split() == chapter_names()


def test_schema_choices_ranges_and_optional():
    split = Spec(type="str", choices=("test", "train"))
    assert validate("mnist_split", "train", split) == "train"
    with pytest.raises(ChapterError, match="'tset' is not a valid choice: choose one of 'test', 'train'"):
        validate("mnist_split", "tset", split)
    batch = spec_for("batch_size", None, {"type": "int", "optional": True, "min": 1})
    assert validate("batch_size", None, batch) is None and validate("batch_size", 128, batch) == 128
    with pytest.raises(ChapterError, match="below its minimum 1"):
        validate("batch_size", 0, batch)
    with pytest.raises(ChapterError, match="must be set"):
        validate("n", None, spec_for("n", 3))
    with pytest.raises(ChapterError, match=r"spreads\[1\]' = 1.5 is above its maximum 1.0"):
        validate("spreads", [0.5, 1.5], spec_for("spreads", [0.0], {"max": 1.0}))
    with pytest.raises(ChapterError, match="schema type 'tensor' unknown"):
        spec_for("x", 1, {"type": "tensor"})


def test_schema_is_enforced_for_presets_and_overrides():
    ch = get_chapter("parallel_linear")
    with pytest.raises(ChapterError, match="spreads.*above its maximum"):
        resolve_parameters(ch, "smoke", {"spreads": [0.5, 2.0]})
    ch = get_chapter("theorem2")
    _, ratios = parse_override("gamma_ratios=[1e-3]")
    assert resolve_parameters(ch, "smoke", {"gamma_ratios": ratios})["gamma_ratios"] == [1e-3]


def test_cli_refuses_a_bad_choice_before_running(capsys, tmp_path):
    assert cli.main(["run", "theorem2", "--preset", "smoke", "--out", str(tmp_path), "-p", "H=1"]) == 2
    assert "below its minimum 2" in capsys.readouterr().err and not list(tmp_path.iterdir())


@pytest.mark.parametrize("override, message", [
    ({"mnist_split": "tset"}, "'tset' is not a valid choice: choose one of 'test', 'train'"),
    ({"rows": ["mnist", "svhn"]}, "rows\\[1\\]' = 'svhn' is not a valid choice"),
    ({"batch_size": 0}, "below its minimum 1"),
    ({"branch_chunk": "big"}, "must be of type int"),
])
def test_real_landscapes_bad_inputs_are_refused_naming_the_choices(override, message):
    with pytest.raises(ChapterError, match=message):
        resolve_parameters(get_chapter("real_landscapes"), "smoke", override)


def test_optional_values_are_none_not_zero():
    params = resolve_parameters(get_chapter("real_landscapes"), "cpu", {"branch_chunk": None})
    assert params["branch_chunk"] is None and params["bench_branches"] is None
    assert resolve_parameters(get_chapter("real_landscapes"), "paper")["branch_chunk"] == 2048
