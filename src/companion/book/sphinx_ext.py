"""A Sphinx extension of this book: drop repeated inline scripts from every page.

sphinx-thebe 0.3 adds its inline configuration script twice when jupyter-book reads the sources, so each
page declared ``const THEBE_JS_URL`` twice and the browser reported a JavaScript error. Keeping the first
copy of each identical script fixes that and changes nothing else.
"""

from __future__ import annotations


def _dedupe(app, pagename, templatename, context, doctree) -> None:
    seen: set[tuple[str, str]] = set()
    kept = []
    for js in context.get("script_files", []):
        name = (js.filename or "") if hasattr(js, "filename") else str(js)       # None and '' alike
        key = (name, repr(getattr(js, "attributes", {})))
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    if "script_files" in context:
        context["script_files"][:] = kept


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
