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
