"""Every built page in a real browser (headless Chromium), with the network off: formulas typeset (no raw TeX
command, no stray ``$`` and no inline formula wider than its column), images loaded and captioned, no JavaScript
error, no table wider than the content column, no table cell that breaks inside a number (at 1,400 px), and the
front page readable at 420 px (no column off-screen). A screenshot of each page is saved under
``_build/screenshots`` as a test artefact. Each rule is also run on a small bad page built here, to show it can
fail. Skipped, saying why, where no Chromium is installed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
SHOTS = ROOT / "_build" / "screenshots"

#: the page's checks, one list of problems (short text snippets) per rule; run after MathJax has typeset
CHECKS = r"""() => {
  const art = document.querySelector('article') || document.body;
  const col = document.querySelector('article.bd-article') || document.querySelector('article');
  const limit = col ? col.getBoundingClientRect().right + 1 : window.innerWidth;
  const snip = s => s.replace(/\s+/g, ' ').trim().slice(0, 80);
  // rendered prose: text outside MathJax's output, code, and scripts
  const SKIP = 'mjx-container, pre, code, script, style, .highlight, .cell_input, kbd, samp, .MathJax';
  const prose = [];
  const walker = document.createTreeWalker(art, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (el && !el.closest(SKIP) && n.nodeValue.trim()) prose.push(n);
  }
  const around = (n, i) => snip(n.nodeValue.slice(Math.max(0, i - 30), i + 40));
  const rawTex = [], strayDollar = [];
  for (const n of prose) {
    for (const m of n.nodeValue.matchAll(/\\[A-Za-z]{2,}|\\[{}_^|,;!]/g)) rawTex.push(around(n, m.index));
    for (const m of n.nodeValue.matchAll(/\$/g)) strayDollar.push(around(n, m.index));
  }
  const text = art.innerText;
  const block = el => el.closest('p, li, td, th, dd, dt, figcaption, caption, h1, h2, h3, h4, blockquote') || col;
  const wideInline = [...art.querySelectorAll('mjx-container:not([display="true"])')].filter(m => {
    const r = m.getBoundingClientRect(), b = block(m).getBoundingClientRect();
    return r.width > b.width + 1 || r.right > Math.min(b.right, limit) + 1;
  }).map(m => snip((m.getAttribute('aria-label') || m.textContent || '') + ' @ ' + block(m).innerText));
  const wideDisplay = [...art.querySelectorAll('mjx-container[display="true"]')]
      .filter(m => m.getBoundingClientRect().right > limit).map(m => snip(m.parentElement.innerText));
  // a number inside a table cell that the browser broke across two lines
  // a number, signed only where the sign is not a hyphen inside a word ("CIFAR-10", "8-8-8" may break there)
  const NUM = /(?<![\w.])[-+−±]?\d[\d.,]*(?:[eE][-+−]?\d+)?%?|(?<=[\w.])\d[\d.,]*(?:[eE][-+−]?\d+)?%?/g;
  const brokenNumbers = [];
  for (const cell of art.querySelectorAll('table td, table th')) {
    const w = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let n = w.nextNode(); n; n = w.nextNode()) {
      for (const m of n.nodeValue.matchAll(NUM)) {
        if (m[0].length < 2) continue;
        const r = document.createRange();
        r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
        const tops = [...r.getClientRects()].filter(q => q.width > 0).map(q => Math.round(q.top));
        if (tops.length && Math.max(...tops) - Math.min(...tops) > 2) brokenNumbers.push(snip(m[0] + ' in ' + cell.innerText));
      }
    }
  }
  const vw = document.documentElement.clientWidth;
  const offscreen = [...art.querySelectorAll('table th, table td')].filter(c => {
    const r = c.getBoundingClientRect();
    return r.width > 0 && (r.right > vw + 1 || r.left < -1);
  }).map(c => snip(c.innerText));
  const imgs = [...document.images].filter(i => i.closest('article'));
  const figImgs = imgs.filter(i => i.closest('.cell_output'));
  return {
    rawMath: (text.match(/\\\(|\\\[|\$\$/g) || []).length,
    typeset: document.querySelectorAll('mjx-container').length,
    mathNodes: document.querySelectorAll('.math').length,
    rawTex, strayDollar, wideInline, wideDisplay, brokenNumbers,
    offscreen: offscreen.slice(0, 5), offscreenCount: offscreen.length,
    pageWider: document.documentElement.scrollWidth > vw + 1,
    brokenImages: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(-60)),
    uncaptioned: figImgs.filter(i => !i.closest('figure') || !i.closest('figure').querySelector('figcaption'))
        .map(i => i.src.slice(-30)),
    hashedAlt: figImgs.filter(i => !i.alt || /^[0-9a-f]{16,}/.test(i.alt) || /\.(png|svg|jpe?g)$/.test(i.alt))
        .map(i => i.src.slice(-30)),
    figures: figImgs.length,
    numbered: [...art.querySelectorAll('figcaption .caption-number')].length,
    several: figImgs.filter(i => i.closest('figure.several')).length,
    // a slider is one figure of pre-drawn frames (raw HTML, which Sphinx does not number): its frames need no
    // number of their own, but the slider needs a caption
    sliderFrames: figImgs.filter(i => i.closest('figure.companion-slider')).length,
    sliderUncaptioned: [...art.querySelectorAll('figure.companion-slider')]
        .filter(f => !(f.querySelector('.companion-slider-caption') || {}).innerText).length,
    wideTables: [...art.querySelectorAll('table')].filter(t => t.getBoundingClientRect().right > limit)
        .map(t => snip(t.innerText)),
  };
}"""


def problems_of(r: dict, rel: str, *, phone: bool = False) -> list[str]:
    """The rules, in words, from one page's :data:`CHECKS` result (``phone``: the 420 px rules only)."""
    out = []
    if phone:
        if r["offscreenCount"] or r["pageWider"]:
            out.append(f"{rel} at 420 px: {r['offscreenCount']} table cells off-screen {r['offscreen']}"
                       + (" and the page scrolls sideways" if r["pageWider"] else ""))
        return out
    if r["rawMath"] or (r["mathNodes"] and not r["typeset"]):
        out.append(f"{rel}: formulas not typeset ({r['rawMath']} raw delimiters, {r['typeset']} typeset)")
    for key, what in (("rawTex", "raw TeX commands in the text"), ("strayDollar", "unmatched $ in the text"),
                      ("wideInline", "inline formulas wider than their column"),
                      ("wideDisplay", "display formulas past the column"),
                      ("brokenNumbers", "table cells that break inside a number"),
                      ("brokenImages", "images that did not load"),
                      ("uncaptioned", "figures without a caption"), ("hashedAlt", "figures without real alt text"),
                      ("wideTables", "tables wider than the content column")):
        if r[key]:
            out.append(f"{rel}: {what} {r[key][:5]}")
    if r.get("sliderUncaptioned"):
        out.append(f"{rel}: {r['sliderUncaptioned']} sliders without a caption")
    if r["numbered"] < r["figures"] - r["several"] - r.get("sliderFrames", 0):           # "several": one figure per data row, one caption
        out.append(f"{rel}: {r['figures']} figures but {r['numbered']} numbered captions")
    return out


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium installed: `apt-get install chromium` (.ci/run does) to run the browser test")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


def check_page(ctx, url: str, shot: Path | None = None) -> tuple[dict, list[str]]:
    """Open ``url`` in ``ctx``, wait for MathJax, run :data:`CHECKS`; returns (result, JavaScript errors)."""
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="load")
    page.wait_for_function("() => !window.MathJax || !MathJax.startup || MathJax.startup.promise", timeout=30_000)
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
    r = page.evaluate(CHECKS)
    if shot is not None:
        page.screenshot(path=str(shot), full_page=False)
    page.close()
    return r, errors


def test_every_page_renders_offline(built_book, book_root, browser):
    assert built_book.returncode == 0, built_book.stdout[-3000:] + built_book.stderr[-3000:]
    html = book_root / "_build" / "html"
    pages = sorted(p for p in html.rglob("*.html") if "_static" not in p.parts and p.name not in ("genindex.html",
                   "search.html", "index.html"))
    assert len(pages) >= 4
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, offline=True)
    for path in pages:
        rel = str(path.relative_to(html))
        r, errors = check_page(ctx, path.as_uri(), SHOTS / (rel.replace("/", "__") + ".png"))
        if errors:
            problems.append(f"{rel}: JavaScript errors {errors}")
        problems += problems_of(r, rel)
    ctx.close()
    phone = browser.new_context(viewport={"width": 420, "height": 900}, offline=True)
    front = html / "book" / "intro.html"
    r, _ = check_page(phone, front.as_uri(), SHOTS / "intro_420px.png")
    problems += problems_of(r, "book/intro.html", phone=True)
    phone.close()
    assert not problems, "\n".join(problems)


# ---- each rule fails on a bad page ------------------------------------------------------------------------

CSS = (ROOT / "book" / "_static" / "companion.css").as_uri()


def _page(tmp_path: Path, name: str, body: str, width: int = 700) -> str:
    """A page of ``body`` in an article ``width`` px wide, with the book's stylesheet; returns its URL."""
    path = tmp_path / f"{name}.html"
    path.write_text(f'<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" href="{CSS}">'
                    f'</head><body><article class="bd-article" style="width:{width}px">{body}</article></body></html>',
                    encoding="utf-8")
    return path.as_uri()


BAD = {
    # parallel_relu B as it was: display math begun mid-paragraph left the paragraph's TeX untypeset
    "rawTex": ("<p>scaling its three layers by $\\lambda_j^{1/3}$ keeps $\\sum_j\\lambda_j(v_j,c_j)\\in\\mathbb R^{n+1}$"
               "</p>", "<p>scaling by <mjx-container>\\lambda_j</mjx-container> keeps it</p>"),
    "strayDollar": ("<p>the program $\\min_z f(z) is convex</p>", "<p>the program <mjx-container>min</mjx-container>"
                    " is convex</p>"),
    "wideInline": ('<p style="width:300px">a formula <mjx-container style="display:inline-block;width:900px">x'
                   '</mjx-container></p>', '<p style="width:300px">a formula <mjx-container style="display:'
                   'inline-block;width:90px">x</mjx-container></p>'),
    # a fixed-layout narrow column breaks a bare number; the same number in .num (companion.css) does not
    "brokenNumbers": ('<table style="display:table;table-layout:fixed;width:60px"><tr><td style="overflow-wrap:'
                      'anywhere">2.910e-09</td></tr></table>',
                      '<table style="display:table;table-layout:fixed;width:60px"><tr><td style="overflow-wrap:'
                      'anywhere"><span class="num">2.910e-09</span></td></tr></table>'),
    "uncaptioned": ('<div class="cell_output"><img alt="a plot" src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7'
                    '"></div>', '<div class="cell_output"><figure><img alt="a plot" src="data:image/gif;base64,'
                    'R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"><figcaption><span class="caption-number">Fig. 1 </span>x</figcaption>'
                    '</figure></div>'),
    "hashedAlt": ('<div class="cell_output"><figure><img alt="3f2a9c0d1e4b5a6978877665544332211.png" '
                  'src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"><figcaption>x</figcaption></figure></div>',
                  '<div class="cell_output"><figure><img alt="a falling curve" src="data:image/gif;base64,'
                  'R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"><figcaption>x</figcaption></figure></div>'),
}

WIDE_ROW = "".join(f"<td>column {i} with some words in it</td>" for i in range(6))


@pytest.mark.parametrize("rule", sorted(BAD))
def test_each_rule_fails_on_a_bad_page_and_passes_on_the_fixed_one(rule, browser, tmp_path):
    bad, good = BAD[rule]
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, offline=True)
    r_bad, _ = check_page(ctx, _page(tmp_path, "bad", bad))
    r_good, _ = check_page(ctx, _page(tmp_path, "good", good))
    ctx.close()
    assert r_bad[rule], f"{rule} did not fire on {bad}"
    assert problems_of(r_bad, "bad.html")                         # and the page test would report it
    assert not r_good[rule], f"{rule} fired on the fixed page: {r_good[rule]}"


def test_phone_rule_fails_on_a_wide_table_and_passes_on_the_stacked_verdicts(browser, tmp_path):
    ctx = browser.new_context(viewport={"width": 420, "height": 900}, offline=True)
    table = f"<table><thead><tr>{''.join(f'<th>h{i}</th>' for i in range(6))}</tr></thead><tr>{WIDE_ROW}</tr></table>"
    r_bad, _ = check_page(ctx, _page(tmp_path, "wide", table, width=400))
    path = tmp_path / "stacked.html"
    path.write_text(f'<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-'
                    f'width"><link rel="stylesheet" href="{CSS}"></head><body><article class="bd-article"><div '
                    f'class="verdicts-table">{table}</div></article></body></html>', encoding="utf-8")
    r_good, _ = check_page(ctx, path.as_uri())
    ctx.close()
    assert problems_of(r_bad, "wide.html", phone=True), r_bad
    assert not problems_of(r_good, "stacked.html", phone=True), r_good


def test_numbering_rule_fails_on_a_caption_without_a_number(browser, tmp_path):
    img = '<img alt="a falling curve" src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7">'
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, offline=True)
    r_bad, _ = check_page(ctx, _page(tmp_path, "bad", f'<div class="cell_output"><figure>{img}<figcaption>x'
                                                       '</figcaption></figure></div>'))
    r_good, _ = check_page(ctx, _page(tmp_path, "good", f'<div class="cell_output"><figure>{img}<figcaption><span '
                                                         'class="caption-number">Fig. 1 </span>x</figcaption></figure>'
                                                         '</div>'))
    ctx.close()
    assert any("numbered captions" in p for p in problems_of(r_bad, "bad.html"))
    assert not problems_of(r_good, "good.html")


def test_a_slider_counts_as_one_captioned_figure(browser, tmp_path):
    """The frames of a pre-drawn slider need no number each, but the slider needs its caption."""
    from companion.core.slider import frame_slider
    from companion.core.plotting import subplots

    def draw(k):
        fig, ax = subplots(1, width=2, height=2)
        ax.plot([0, 1], [0, k])
        return fig

    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, offline=True)
    good = frame_slider(draw, [1, 2, 3], name="k", caption="a line of slope k").html()
    bare = frame_slider(draw, [1, 2, 3], name="k").html()
    r_good, _ = check_page(ctx, _page(tmp_path, "good", f'<div class="cell_output">{good}</div>'))
    r_bad, _ = check_page(ctx, _page(tmp_path, "bad", f'<div class="cell_output">{bare}</div>'))
    ctx.close()
    assert r_good["sliderFrames"] == 3 and not problems_of(r_good, "good.html")
    assert any("sliders without a caption" in p for p in problems_of(r_bad, "bad.html"))
