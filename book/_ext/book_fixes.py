"""Sphinx extension with the fixes the built book needs to load without JavaScript errors.

sphinx-thebe (pulled in by Jupyter Book 1.x) registers its inline configuration script (as filename None, then as "") on
every ``env-before-read-docs`` event, and Jupyter Book fires that event more than once, so
pages declared ``const THEBE_JS_URL`` twice: a JavaScript error on every page. This
extension drops repeated script entries before each page is written.

The explorers (``mvdlib.explorers``) display a live ipywidgets view and its kernel-free
plotly twin in one output. The HTML book has no kernel, so it shows the twin: this
extension removes the widget view from myst-nb's render priorities, and with it the
widget state the executed notebooks record and the ipywidgets scripts myst-nb would
load from a CDN for it.
"""

from __future__ import annotations

from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _static_twins_only(app: Any, config: Any) -> None:
    config.nb_mime_priority_overrides = [*config.nb_mime_priority_overrides, ("html", WIDGET_VIEW, None)]
    config.nb_ipywidgets_js = {}


def _dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, str]] = set()
    unique = []
    for js in scripts:
        if js.attributes.get("type") == WIDGET_STATE:
            continue  # the state of live widgets the page does not show
        key = (str(js.filename or ""), str(js.attributes.get("body", "")))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _static_twins_only)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
