"""Sliders that move in the static page: the HTML emitter (:mod:`companion.core.slider`) on its own, its inline
handler in headless Chromium, and every slider of the built book moved with the network off.

``COMPANION_TEST_BOOK_HTML=DIR`` runs the book test on an already built ``_build/html`` instead of building one."""

from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import pytest

from companion.core import slider
from companion.core.slider import FrameSlider, frame_slider
from test_browser import browser  # noqa: F401  (the module's headless Chromium, skipped where there is none)

matplotlib.use("Agg")

#: chapters whose text promises a slider: each must have at least one in its built page
SLIDER_PAGES = ("shapley_folkman", "theorem1", "synthetic_landscape", "hitting_rate")


def _draw(v: float):
    from companion.core.plotting import subplots

    fig, ax = subplots(1, width=2.0, height=1.5)
    ax.plot([0, 1], [0, v])
    ax.set(ylim=(0, 3), title=f"v = {v}")
    return fig


class _Parts(HTMLParser):
    """The images (src, visible, label; alt text), the range input's attributes, the output's and the caption's text."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[tuple[str, bool, str]] = []
        self.input: dict[str, str] = {}
        self.alts: list[str] = []
        self.output, self.caption, self._in = "", "", ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append((a["src"], "display:none" not in a.get("style", ""), a["data-label"]))
            self.alts.append(a["alt"])
        elif tag == "input":
            self.input = a
        self._in = "caption" if a.get("class") == "companion-slider-caption" else tag

    def handle_endtag(self, tag):
        self._in = ""

    def handle_data(self, data):
        if self._in == "output":
            self.output += data
        elif self._in == "caption":
            self.caption += data


def _parts(html: str) -> _Parts:
    p = _Parts()
    p.feed(html)
    return p


def test_emitter_frames_default_and_labels():
    s = frame_slider(_draw, [1.0, 2.0, 3.0], name="I", default=2.0, labels=["one", "two", "three"],
                     caption="A line of slope v.")
    p = _parts(s.html())
    assert len(p.imgs) == len(s.frames) == 3
    assert len({src for src, _, _ in p.imgs}) == 3, "every value must give its own frame"
    assert all(src.startswith("data:image/png;base64,") for src, _, _ in p.imgs)
    assert [vis for _, vis, _ in p.imgs] == [False, True, False]            # only the default shows
    assert [lab for _, _, lab in p.imgs] == ["I = one", "I = two", "I = three"]
    assert p.output == "I = two" and p.alts == ["A line of slope v, I = one", "A line of slope v, I = two",
                                                  "A line of slope v, I = three"]
    assert p.caption == "A line of slope v."
    assert (p.input["type"], p.input["min"], p.input["max"], p.input["value"]) == ("range", "0", "2", "1")
    assert "http" not in s.html(), "a static slider must need no network"
    assert s.nbytes == len(s.html().encode())
    svg = frame_slider(_draw, [1.0, 2.0], name="v", fmt="svg")
    assert svg.default == 0 and all(f.startswith("data:image/svg+xml;base64,") for f in svg.frames)


def test_emitter_refuses_bad_input():
    with pytest.raises(ValueError, match="default 5 is not one of the values"):
        frame_slider(_draw, [1, 2], name="I", default=5)
    with pytest.raises(ValueError, match="2 values but 1 labels"):
        frame_slider(_draw, [1, 2], name="I", labels=["a"])
    with pytest.raises(ValueError, match="at least one value"):
        frame_slider(_draw, [], name="I")
    with pytest.raises(ValueError, match="default frame 3 is not in 0..1"):
        FrameSlider(("a", "b"), ("1", "2"), 3, "I")
    with pytest.raises(ValueError, match="fmt must be 'png' or 'svg'"):
        slider.figure_data_uri(_draw(1.0), fmt="jpg")


def test_counts_keep_every_small_count_then_every_fifth():
    assert slider.counts(20) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20]
    assert slider.counts(3) == [1, 2, 3] and slider.counts(52)[-3:] == [45, 50, 52]
    with pytest.raises(ValueError, match="top must be ≥ 1"):
        slider.counts(0)


def test_live_version_is_a_selection_slider_over_the_same_values():
    w = slider._live(_draw, [1.0, 2.0, 3.0], ["a", "b", "c"], 1, "I")
    (control,) = [c for c in w.children if hasattr(c, "options")]
    assert [lab for lab, _ in control.options] == ["a", "b", "c"] and control.value == 2.0


def _move_every_slider(page) -> list[str]:
    """Move each slider of an open page to its end and back; returns what did not change as it should."""
    problems = []
    figures = page.locator("figure.companion-slider")
    for k in range(figures.count()):
        fig = figures.nth(k)
        n = int(fig.get_attribute("data-frames"))
        visible = "f => [...f.querySelectorAll('img')].filter(i => i.offsetParent !== null).map(i => i.src)"
        before, label = fig.evaluate(visible), fig.locator("output").inner_text()
        rng = fig.locator("input[type=range]")
        rng.focus()
        page.keyboard.press("End")
        after, label_after = fig.evaluate(visible), fig.locator("output").inner_text()
        page.keyboard.press("Home")
        first = fig.evaluate(visible)
        if len(before) != 1 or len(after) != 1 or len(first) != 1:
            problems.append(f"slider {k}: {len(before)}, {len(after)}, {len(first)} frames visible (want 1 each)")
        elif n > 1 and (after == before or label_after == label or first == after):
            problems.append(f"slider {k} ({label!r}): moving it did not change the figure")
    return problems


def test_handler_swaps_frames_in_a_browser(browser):  # noqa: F811
    s = frame_slider(_draw, [0.5, 1.5, 2.5], name="I", default=1.5)
    ctx = browser.new_context(offline=True)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_content(f"<html><body>{s.html()}</body></html>")
    assert _move_every_slider(page) == [] and not errors
    assert page.locator("output").inner_text() == "I = 0.5"
    ctx.close()


@pytest.mark.slow
def test_sliders_move_in_the_built_book_offline(request, browser):  # noqa: F811
    if os.environ.get("COMPANION_TEST_BOOK_HTML"):
        html = Path(os.environ["COMPANION_TEST_BOOK_HTML"])
    else:
        assert request.getfixturevalue("built_book").returncode == 0
        html = request.getfixturevalue("book_root") / "_build" / "html"
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    problems, found = [], {}
    for path in sorted(html.rglob("*.html")):
        if "_static" in path.parts or "companion-slider" not in path.read_text(encoding="utf-8"):
            continue
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        page.goto(path.as_uri(), wait_until="load")
        found[path.stem] = page.locator("figure.companion-slider").count()
        problems += [f"{path.name}: {p}" for p in _move_every_slider(page)]
        problems += [f"{path.name}: JavaScript error {e}" for e in errors]
        page.close()
    ctx.close()
    missing = [n for n in SLIDER_PAGES if not found.get(n)]
    assert not missing, f"pages that promise a slider but have none: {missing} (found {found})"
    assert not problems, "\n".join(problems)
