"""Tests of mvdlib.notebook: chapters glue their numbers without a book build (as in Colab)."""

from __future__ import annotations

import sys

import IPython.display
import pytest

from mvdlib.notebook import glue


def test_glue_without_myst_nb_only_displays(monkeypatch: pytest.MonkeyPatch) -> None:
    shown = []
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # as in Colab: importing it fails
    monkeypatch.setattr(IPython.display, "display", shown.append)
    glue("hidden", 1.5, display=False)
    glue("shown", 2.5)
    assert shown == [2.5]
    with pytest.raises(ValueError, match="name"):
        glue("", 1.0)


def test_in_colab_is_false_when_google_colab_is_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    """``sys.modules[name] = None`` is how a test (or a site) blocks an import: no Colab there."""
    from mvdlib.notebook import in_colab

    monkeypatch.setitem(sys.modules, "google.colab", None)
    assert in_colab() is False
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    assert in_colab() is True


@pytest.mark.parametrize(
    ("fallback", "error", "says"),
    [
        ({}, ValueError, "at least one"),
        ("text/html", TypeError, "mapping"),
        ({"text/html": "<b>x</b>", 3: "y"}, ValueError, "MIME type"),
        ({"html": "<b>x</b>"}, ValueError, "MIME type"),
        ({"text/html": None}, ValueError, "text/html"),
    ],
)
def test_show_with_widget_refuses_a_fallback_that_is_no_mime_bundle(fallback, error, says, monkeypatch) -> None:
    import ipywidgets

    from mvdlib.notebook import show_with_widget

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append(a))
    with pytest.raises(error, match=rf"fallback.*{says}|{says}.*fallback"):
        show_with_widget(ipywidgets.HTML("x"), fallback)
    assert shown == []
    show_with_widget(ipywidgets.HTML("x"), {"text/html": "<b>x</b>"})
    assert len(shown) == 1 and "text/html" in shown[0][0]
