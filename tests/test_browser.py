"""Every built page in a real browser (headless Chromium), with the network off: formulas typeset, images
loaded, no JavaScript error, no table wider than the content column. A screenshot of each page is saved
under ``_build/screenshots`` as a test artefact. Skipped, saying why, where no Chromium is installed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
SHOTS = ROOT / "_build" / "screenshots"

CHECKS = """() => {
  const text = document.querySelector('article') ? document.querySelector('article').innerText : document.body.innerText;
  const imgs = [...document.images].filter(i => i.closest('article'));
  const col = document.querySelector('article.bd-article') || document.querySelector('article');
  const limit = col ? col.getBoundingClientRect().right + 1 : window.innerWidth;
  const wide = [...document.querySelectorAll('article table')].filter(t => t.getBoundingClientRect().right > limit)
      .map(t => t.innerText.slice(0, 60));
  return {
    rawMath: (text.match(/\\\\\\(|\\\\\\[|\\$\\$/g) || []).length,
    typeset: document.querySelectorAll('mjx-container').length,
    mathNodes: document.querySelectorAll('.math').length,
    brokenImages: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(-60)),
    wideTables: wide,
  };
}"""


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium installed: `apt-get install chromium` (.ci/run does) to run the browser test")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


def test_every_page_renders_offline(built_book, book_root, browser):
    assert built_book.returncode == 0
    html = book_root / "_build" / "html"
    pages = sorted(p for p in html.rglob("*.html") if "_static" not in p.parts and p.name not in ("genindex.html",
                   "search.html", "index.html"))
    assert len(pages) >= 4
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    for path in pages:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_function("() => !window.MathJax || !MathJax.startup || MathJax.startup.promise",
                               timeout=30_000)
        page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
        r = page.evaluate(CHECKS)
        rel = path.relative_to(html)
        page.screenshot(path=str(SHOTS / (str(rel).replace("/", "__") + ".png")), full_page=False)
        if errors:
            problems.append(f"{rel}: JavaScript errors {errors}")
        if r["rawMath"] or (r["mathNodes"] and not r["typeset"]):
            problems.append(f"{rel}: formulas not typeset ({r['rawMath']} raw delimiters, {r['typeset']} typeset)")
        if r["brokenImages"]:
            problems.append(f"{rel}: images that did not load {r['brokenImages']}")
        if r["wideTables"]:
            problems.append(f"{rel}: tables wider than the content column {r['wideTables']}")
        page.close()
    ctx.close()
    assert not problems, "\n".join(problems)
