"""Sphinx extension with the fixes the built book needs to load without JavaScript errors.

sphinx-thebe (pulled in by Jupyter Book 1.x) registers its inline configuration script (as filename None, then as "") on
every ``env-before-read-docs`` event, and Jupyter Book fires that event more than once, so
pages declared ``const THEBE_JS_URL`` twice: a JavaScript error on every page. This
extension drops repeated script entries before each page is written.
"""

from __future__ import annotations

from typing import Any


def _dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, str]] = set()
    unique = []
    for js in scripts:
        key = (str(js.filename or ""), str(js.attributes.get("body", "")))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
