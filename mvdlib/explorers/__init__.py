"""The book's interactive explorers, each defined once and shown live or as an HTML twin.

See :mod:`mvdlib.explorers.core` for the pattern; one module per explorer:

=====================  ==========  =================================================
module                 chapter     explorer
=====================  ==========  =================================================
``warp``               2           photometric error as the depth is scaled
``losses``             5           L1, L2, Huber, BerHu and the scale-invariant loss
``activations``        7           an activation, its derivative and its mean gain
``cost_slices``        9           a plane-sweep cost volume, plane by plane
``scales``             10          MVDepthNet's four inverse-depth outputs
``fusion``             12          the fusion filter's two knobs
=====================  ==========  =================================================
"""

from mvdlib.explorers.core import Explorer, Param, View

__all__ = ["Explorer", "Param", "View"]
