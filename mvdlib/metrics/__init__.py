"""Every metric of the book: depth errors, holes, depth edges and point clouds (chapters 3-13).

**Depth errors** (chapter 11). Eigen et al. (2014) introduced ``abs_rel, sq_rel, rmse,
rmse_log`` and the threshold accuracies ``a1, a2, a3``; DeMoN (Ummenhofer et al. 2017, §5)
added ``l1_inv``, ``l1_rel`` and ``sc_inv``, which MVDepthNet reports. With ``d`` the
predicted and ``g`` the true depth over the ``n`` valid pixels::

    abs_rel  = 1/n sum |d - g| / g          sq_rel   = 1/n sum (d - g)^2 / g
    rmse     = sqrt(1/n sum (d - g)^2)      rmse_log = sqrt(1/n sum (log d - log g)^2)
    a_k      = 1/n #{max(d/g, g/d) < 1.25^k},  k = 1, 2, 3
    l1_inv   = 1/n sum |1/d - 1/g|          l1_rel   = 1/n sum |d - g| / g   (DeMoN's name for abs_rel)
    sc_inv   = sqrt(1/n sum z^2 - (1/n sum z)^2),  z = log d - log g

All pixels of a batch are pooled (not averaged per image). :func:`hole_aware_metrics`
scores a method that may refuse to answer (chapter 11's classical baselines).

**Depth edges** (chapter 13): :func:`depth_discontinuities`, :func:`edge_band` (pixels near a
true depth edge), :func:`flying_pixels` (depths on neither nearby surface) and
:func:`edge_region_errors` (errors inside and outside the band).

**Point clouds** (chapter 12): :func:`precision_recall_fscore`, the accuracy and completeness
of Tanks and Temples and ETH3D, from :func:`point_to_cloud_distance`.

Conventions (valid depth, masks): ``book/conventions.md`` and :mod:`mvdlib.conventions`.

The metrics live in private modules by concern (``_depth``, ``_edges``, ``_clouds``) and are
imported from here: ``from mvdlib.metrics import depth_metrics``.
"""

from mvdlib.metrics._clouds import point_to_cloud_distance, precision_recall_fscore
from mvdlib.metrics._depth import DELTA_THRESHOLD, METRIC_NAMES, depth_metrics, hole_aware_metrics
from mvdlib.metrics._edges import (
    DEFAULT_EDGE_WIDTH,
    DEFAULT_FLYING_REL_TOL,
    DEFAULT_REL_JUMP,
    EDGE_RELATIVE_STEP,
    depth_discontinuities,
    edge_band,
    edge_errors,
    edge_region_errors,
    flying_pixels,
)

__all__ = [
    "DEFAULT_EDGE_WIDTH",
    "DEFAULT_FLYING_REL_TOL",
    "DEFAULT_REL_JUMP",
    "DELTA_THRESHOLD",
    "EDGE_RELATIVE_STEP",
    "METRIC_NAMES",
    "depth_discontinuities",
    "depth_metrics",
    "edge_band",
    "edge_errors",
    "edge_region_errors",
    "flying_pixels",
    "hole_aware_metrics",
    "point_to_cloud_distance",
    "precision_recall_fscore",
]
