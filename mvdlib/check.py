"""Old path of :mod:`mvdlib.classroom.check`, kept for the chapters and for student notebooks.

``from mvdlib import check`` and ``import mvdlib.check.ch01`` give the very module objects
of :mod:`mvdlib.classroom.check`: this module replaces itself (and names every loaded
submodule) in ``sys.modules``, so a monkeypatch through either path is seen by both.
"""

from __future__ import annotations

import sys

import mvdlib.classroom.check as _check

__all__: list[str] = []

_OLD, _NEW = __name__, _check.__name__
for _name, _module in list(sys.modules.items()):
    if _name == _NEW or _name.startswith(_NEW + "."):
        sys.modules[_OLD + _name[len(_NEW) :]] = _module
