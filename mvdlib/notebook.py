"""What a chapter needs to run in any Jupyter, not only in the book's build.

The book's pages quote run-dependent numbers with MyST-NB's ``{glue}`` role; the chapters
record them with :func:`glue`, which is MyST-NB's own where it is installed (the book's
environment) and, in Colab or a plain Jupyter, where no page is being built, shows the value
only when asked to.
"""

from __future__ import annotations

from typing import Any

__all__ = ["glue"]


def glue(name: str, value: Any, display: bool = True) -> None:
    """Record ``value`` under ``name`` for the page's ``{glue}`` roles (``myst_nb.glue``).

    Args:
        name: the key the page's Markdown refers to.
        value: any displayable object.
        display: also show the value in the cell's output.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not isinstance(display, bool):
        raise TypeError(f"display must be a bool, got {type(display).__name__}")
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # no book build here (Colab, a fresh Jupyter): nothing to glue into
        if display:
            from IPython.display import display as show

            show(value)
        return
    myst_glue(name, value, display)
