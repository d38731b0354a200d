"""Interactive explorers used by the chapters (ipywidgets, for a running kernel).

Each explorer has a kernel-free twin built with plotly (sliders in the figure itself) so
that a reader of the built HTML book can explore too; see :func:`mvdlib.viz.show_plotly`.
"""

from __future__ import annotations

# ---- cost-slice explorer (chapter 9) -----------------------------------------------------

# ---- loss explorer (chapter 5) -----------------------------------------------------------

# ---- activation explorer (chapter 7) -----------------------------------------------------
