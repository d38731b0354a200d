"""Camera poses from the images alone: features, essential matrix, chained views (chapter 12).

The geometric route from images to poses, with OpenCV doing each step:

1. :func:`match_features`: SIFT keypoints (Lowe, IJCV 2004) matched by nearest descriptor,
   kept when the nearest is clearly better than the second nearest (Lowe's ratio test).
2. :func:`estimate_relative_pose`: the essential matrix ``E = [t]_x R`` from the matches
   with RANSAC (Nister's five-point solver in MAGSAC++, ``cv2.findEssentialMat``), decomposed into the
   one ``(R, t)`` of four that puts the points in front of both cameras
   (``cv2.recoverPose``). ``t`` has unit length: two images fix the direction of the
   baseline, never its length. Too few matches or inliers give ``None``, "no pose",
   never a guess.

The steps inside ``cv2.findEssentialMat`` and ``cv2.recoverPose`` that chapter 12 derives are
written out too: :func:`essential_matrix` (``E = [t]_x R``), :func:`decompose_essential` (the four
candidate motions of one ``E``) and :func:`triangulate_depths` with :func:`cheirality_counts` (which
candidate puts the points in front of both cameras).

3. :func:`chain_poses`: views 0, 1, 2, ... each posed relative to the previous one. The
   metric scale is fixed once, from one known distance (the baseline between the first two
   cameras, as a tape measure or a wheel odometer gives it), and carried along the chain by
   the points that three consecutive views share: their depths in the middle view,
   triangulated from the pair before and from the pair after, must agree.

Conventions (``book/conventions.md``): ``T_src_ref`` maps reference-camera points into the source
camera (OpenCV's ``x_2 = R x_1 + t``); poses are camera-to-world ``T_world_cam``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np
from torch import Tensor

from mvdlib._validation import RIGID_ATOL, check_shape, intrinsics, numeric_array, positive_float

__all__ = [
    "Features",
    "RelativePose",
    "chain_poses",
    "cheirality_counts",
    "decompose_essential",
    "detect_features",
    "essential_matrix",
    "estimate_relative_pose",
    "match_features",
    "rotation_error_deg",
    "translation_direction_error_deg",
    "triangulate_depths",
]

# Lowe's ratio test: keep a match when its descriptor distance is below this fraction of the
# second-best match's (0.75, as in OpenCV's feature-matching tutorial; Lowe used 0.8).
RATIO = 0.75
# SIFT's contrast threshold: OpenCV's default 0.04 finds ~250 keypoints in a 320 x 256 view of
# our synthetic rooms and single pairs then err by up to 3.5 deg; 0.01 finds ~1,300.
SIFT_CONTRAST_THRESHOLD = 0.01
# Robust estimation of the essential matrix: MAGSAC++ (Barath et al., CVPR 2020; OpenCV's
# USAC framework), whose rotation errors on the chapter's ten views are ~10x smaller than
# plain RANSAC's; inlier threshold (pixels) and confidence.
RANSAC_THRESHOLD_PX = 1.0
RANSAC_CONFIDENCE = 0.999
# Fewer RANSAC inliers than this and the pose is refused ("no pose"): five points determine
# E exactly, so a handful of inliers can always be found by chance.
MIN_INLIERS = 30
# A pair whose matched points barely move (median parallax below this, pixels) fixes no
# baseline direction; its pose is refused too.
MIN_PARALLAX_PX = 2.0
# Scale propagation needs this many points seen by three consecutive views.
MIN_SHARED_POINTS = 10


class Features(NamedTuple):
    """SIFT keypoints of one image: ``points`` N x 2 (u, v) pixels, ``descriptors`` N x 128."""

    points: np.ndarray
    descriptors: np.ndarray


class RelativePose(NamedTuple):
    """The pose of a source camera relative to a reference camera, from their images.

    Attributes:
        T_src_ref: 4 x 4 rigid transform, reference camera -> source camera; its
            translation has unit length (the scale is unknown from two images).
        ref_index: M indices into the reference image's keypoints of the RANSAC inliers.
        src_index: M indices into the source image's keypoints, matched to ``ref_index``.
        points_ref: M x 3 inliers triangulated in the reference camera's frame, in units
            of the baseline length.
        num_matches: matches that passed the ratio test (before RANSAC).
    """

    T_src_ref: np.ndarray
    ref_index: np.ndarray
    src_index: np.ndarray
    points_ref: np.ndarray
    num_matches: int


def _gray(image: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(image)
    if a.dtype != np.uint8 or not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ValueError(f"{name} must be an H x W x 3 (RGB) or H x W uint8 image, got {a.dtype} {a.shape}")
    return a if a.ndim == 2 else cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)


def _features(f: Features, name: str) -> Features:
    if not isinstance(f, Features):
        raise TypeError(f"{name} must be Features from detect_features, got {type(f).__name__}")
    return f


def _finite_block(x: np.ndarray | Tensor, name: str, shapes: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """``x`` as a finite float64 array of one of ``shapes``."""
    a = numeric_array(x, name, tuple({len(s) for s in shapes})).astype(np.float64)
    if a.shape not in shapes or not np.isfinite(a).all():
        raise ValueError(f"{name} must be a finite array of shape {' or '.join(map(str, shapes))}, got {a.shape}")
    return a


def _normalised_points(x: np.ndarray | Tensor, name: str) -> np.ndarray:
    """``x`` as a finite float64 N x 3 array (N >= 1)."""
    a = numeric_array(x, name, (2,)).astype(np.float64)
    if a.shape[1] != 3 or len(a) == 0 or not np.isfinite(a).all():
        raise ValueError(f"{name} must be a finite N x 3 array of normalised coordinates, got shape {a.shape}")
    return a


def detect_features(image: np.ndarray) -> Features:
    """SIFT keypoints and descriptors of an image (OpenCV).

    Args:
        image: H x W x 3 RGB or H x W grey, uint8.
    Returns:
        :class:`Features` (N may be 0 for a blank image).
    """
    keypoints, descriptors = cv2.SIFT_create(contrastThreshold=SIFT_CONTRAST_THRESHOLD).detectAndCompute(  # type: ignore[attr-defined]  # cv2 stubs lack SIFT_create
        _gray(image, "image"), None
    )
    points = np.array([k.pt for k in keypoints], dtype=np.float64).reshape(-1, 2)
    return Features(points, np.zeros((0, 128), np.float32) if descriptors is None else descriptors)


def match_features(a: Features, b: Features, ratio: float = RATIO) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-descriptor matches from ``a`` to ``b`` that pass Lowe's ratio test.

    Args:
        a, b: features of two images.
        ratio: a match is kept when ``dist(best) < ratio * dist(second best)``, ``0 < ratio <= 1``.
    Returns:
        ``(index_a, index_b)``: two int arrays of length M, the matched keypoints.
    """
    ratio = positive_float(ratio, "ratio")
    if ratio > 1:
        raise ValueError(f"ratio must be in (0, 1], got {ratio}")
    a, b = _features(a, "a"), _features(b, "b")
    if len(a.descriptors) < 2 or len(b.descriptors) < 2:
        return np.zeros(0, int), np.zeros(0, int)
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(a.descriptors, b.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < ratio * p[1].distance]
    return np.array([m.queryIdx for m in good], dtype=int), np.array([m.trainIdx for m in good], dtype=int)


def estimate_relative_pose(
    ref: Features, src: Features, K: np.ndarray | Tensor, ratio: float = RATIO
) -> RelativePose | None:
    """Relative pose of two calibrated views from matched features (essential matrix, RANSAC).

    Args:
        ref, src: features of the reference and the source image (:func:`detect_features`).
        K: 3 x 3 intrinsics shared by both images, pixels.
        ratio: Lowe's ratio for :func:`match_features`.
    Returns:
        :class:`RelativePose`, or ``None`` ("no pose") when fewer than ``MIN_INLIERS``
        matches survive RANSAC and the cheirality test, or the matches show almost no
        parallax (a rotation only, or the same image twice).
    """
    Kt = intrinsics(K, "K")
    check_shape(Kt, "1 3 3", "K")
    Kn = Kt[0].double().cpu().numpy()
    ref, src = _features(ref, "ref"), _features(src, "src")
    ia, ib = match_features(ref, src, ratio)
    if len(ia) < MIN_INLIERS:
        return None
    p_ref, p_src = ref.points[ia], src.points[ib]
    if np.median(np.linalg.norm(p_ref - p_src, axis=1)) < MIN_PARALLAX_PX:
        return None
    E, mask = cv2.findEssentialMat(p_ref, p_src, Kn, cv2.USAC_MAGSAC, RANSAC_CONFIDENCE, RANSAC_THRESHOLD_PX)
    if E is None or E.shape != (3, 3):  # several 3x3 solutions stacked: a degenerate sample
        return None
    _, R, t, mask_pose, X = cv2.recoverPose(E, p_ref, p_src, Kn, distanceThresh=1e3, mask=mask.copy())
    keep = mask_pose.ravel() > 0
    if keep.sum() < MIN_INLIERS:
        return None
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t.ravel() / np.linalg.norm(t)
    points = (X[:3] / X[3]).T[keep]  # M x 3 in the reference frame, baseline = 1
    return RelativePose(T, ia[keep], ib[keep], points, len(ia))


def essential_matrix(T_src_ref: np.ndarray | Tensor) -> np.ndarray:
    """The essential matrix ``E = [t]_x R`` of a reference-to-source motion (chapter 12).

    Normalised coordinates ``x = K^-1 [u, v, 1]^T`` of one point in both cameras satisfy the
    epipolar constraint ``x_src^T E x_ref = 0`` (Hartley and Zisserman 2004, Sec. 9.6).

    Args:
        T_src_ref: 4 x 4 rigid transform, reference camera -> source camera (``x_2 = R x_1 + t``).
    Returns:
        3 x 3 float64 ``E``, with the scale of ``t`` (``E`` is defined up to scale).
    """
    T = _finite_block(T_src_ref, "T_src_ref", ((4, 4),))
    t = T[:3, 3]
    t_x = np.array([[0.0, -t[2], t[1]], [t[2], 0.0, -t[0]], [-t[1], t[0], 0.0]])
    return t_x @ T[:3, :3]


def decompose_essential(E: np.ndarray | Tensor) -> list[np.ndarray]:
    """The four motions ``(R, t)`` that one essential matrix allows (Hartley and Zisserman, Result 9.19).

    With the SVD ``E = U diag(s, s, 0) V^T`` (signs chosen so that ``U`` and ``V`` are rotations) and
    ``W`` the rotation by 90 degrees about z, ``R`` is ``U W V^T`` or ``U W^T V^T`` and ``t`` is
    plus or minus ``U``'s last column (unit length). Only one of the four puts the points in front of
    both cameras (:func:`cheirality_counts`).

    Args:
        E: 3 x 3 essential matrix, any scale, rank 2.
    Returns:
        Four 4 x 4 float64 transforms ``T_src_ref``, in the order ``(R1, t), (R1, -t), (R2, t), (R2, -t)``
        with ``R1 = U W V^T``.
    """
    E = _finite_block(E, "E", ((3, 3),))
    U, s, Vt = np.linalg.svd(E)
    if s[1] <= 1e-9 * max(s[0], 1e-300):
        raise ValueError(f"E must have rank 2 (two non-zero singular values), got singular values {s.tolist()}")
    U, Vt = U * np.sign(np.linalg.det(U)), Vt * np.sign(np.linalg.det(Vt))  # proper rotations; E changes sign only
    W = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    out = []
    for R in (U @ W @ Vt, U @ W.T @ Vt):
        for t in (U[:, 2], -U[:, 2]):
            T = np.eye(4)
            T[:3, :3], T[:3, 3] = R, t
            out.append(T)
    return out


def triangulate_depths(
    x_ref: np.ndarray | Tensor, x_src: np.ndarray | Tensor, T_src_ref: np.ndarray | Tensor
) -> np.ndarray:
    """Depths of matched points in both cameras, from ``z_src x_src = z_ref R x_ref + t`` (chapter 12).

    Each match gives three equations in the two unknown depths; this solves them by least squares
    (exact when the match is noise-free).

    Args:
        x_ref, x_src: N x 3 normalised coordinates ``K^-1 [u, v, 1]^T`` (third entry 1) of the
            matches in the reference and the source camera.
        T_src_ref: 4 x 4 rigid transform, reference camera -> source camera.
    Returns:
        N x 2 float64 ``(z_ref, z_src)`` in the units of ``t``; negative where the point lies
        behind that camera.
    """
    a, b = _normalised_points(x_ref, "x_ref"), _normalised_points(x_src, "x_src")
    if a.shape != b.shape:
        raise ValueError(f"x_ref and x_src must have the same shape N x 3, got {a.shape} and {b.shape}")
    T = _finite_block(T_src_ref, "T_src_ref", ((4, 4),))
    A = np.stack([a @ T[:3, :3].T, -b], axis=2)  # N x 3 x 2: columns R x_ref and -x_src
    AtA = A.transpose(0, 2, 1) @ A
    Atb = A.transpose(0, 2, 1) @ (-T[:3, 3])
    if (np.abs(np.linalg.det(AtA)) < 1e-12).any():
        raise ValueError("a match's two rays are parallel (no parallax): its depths are undetermined")
    return np.linalg.solve(AtA, Atb[..., None])[..., 0]


def cheirality_counts(x_ref: np.ndarray | Tensor, x_src: np.ndarray | Tensor, E: np.ndarray | Tensor) -> list[int]:
    """For each of :func:`decompose_essential`'s four motions, how many matches lie in front of both cameras.

    Args:
        x_ref, x_src: N x 3 normalised coordinates of the matches (see :func:`triangulate_depths`).
        E: 3 x 3 essential matrix.
    Returns:
        Four counts, in :func:`decompose_essential`'s order; the right motion has (nearly) all N.
    """
    return [int((triangulate_depths(x_ref, x_src, T) > 0).all(axis=1).sum()) for T in decompose_essential(E)]


def _shared_scale(prev: RelativePose, nxt: RelativePose) -> float | None:
    """Length of ``nxt``'s baseline in units of ``prev``'s, from the views' shared points.

    ``prev`` poses view k+1 against view k, ``nxt`` view k+2 against view k+1. A point whose
    keypoint in view k+1 is an inlier of both has a depth in view k+1 from each pair; the
    median ratio of the two is the scale.
    """
    z_prev = (prev.points_ref @ prev.T_src_ref[:3, :3].T + prev.T_src_ref[:3, 3])[:, 2]  # depths in view k+1
    z_next = nxt.points_ref[:, 2]
    common, i_prev, i_next = np.intersect1d(prev.src_index, nxt.ref_index, return_indices=True)
    if len(common) < MIN_SHARED_POINTS:
        return None
    ratios = z_prev[i_prev] / z_next[i_next]
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    return float(np.median(ratios)) if len(ratios) >= MIN_SHARED_POINTS else None


def chain_poses(
    images: Sequence[np.ndarray], K: np.ndarray | Tensor, first_baseline: float, T_world_first: np.ndarray | None = None
) -> tuple[np.ndarray, list[RelativePose | None]]:
    """Camera-to-world poses of a sequence of views from their images alone (chapter 12).

    Each view is posed against the one before it (:func:`estimate_relative_pose`). The first
    baseline is given in metres; every later one is scaled by the points three consecutive
    views share (see the module's docstring).

    Args:
        images: V >= 2 images (H x W x 3 uint8), consecutive views overlapping.
        K: 3 x 3 intrinsics shared by all views.
        first_baseline: distance between the first two camera centres, metres.
        T_world_first: 4 x 4 pose of the first camera (default: identity, the first camera
            defines the world frame).
    Returns:
        ``(T_world_cams, pairs)``: V x 4 x 4 poses and the V - 1 relative poses.
    Raises:
        ValueError: when a pair has no pose or two pairs share too few points for the scale
            (the chain would break, so no pose is made up).
    """
    if len(images) < 2:
        raise ValueError(f"images must hold at least 2 views, got {len(images)}")
    first_baseline = positive_float(first_baseline, "first_baseline")
    T0 = np.eye(4) if T_world_first is None else np.asarray(T_world_first, dtype=np.float64)
    check_shape(T0, "4 4", "T_world_first")
    features = [detect_features(im) for im in images]
    pairs = [estimate_relative_pose(a, b, K) for a, b in zip(features[:-1], features[1:], strict=True)]
    for k, p in enumerate(pairs):
        if p is None:
            raise ValueError(f"no pose between views {k} and {k + 1}: too few consistent feature matches")
    posed = [p for p in pairs if p is not None]  # all of them, as checked above
    poses, scale = [T0], first_baseline
    for k, p in enumerate(posed):
        if k > 0:
            step = _shared_scale(posed[k - 1], p)
            if step is None:
                raise ValueError(f"views {k - 1}, {k}, {k + 1} share too few points to carry the scale")
            scale *= step
        T_src_ref = p.T_src_ref.copy()
        T_src_ref[:3, 3] *= scale
        poses.append(poses[-1] @ np.linalg.inv(T_src_ref))  # T_world_src = T_world_ref T_ref_src
    return np.stack(poses), pairs


def _rotation(R: np.ndarray | Tensor, name: str) -> np.ndarray:
    """``R`` (3 x 3, or a 4 x 4 pose's block) checked a rotation: ``R^T R = I``, ``det R = +1`` to ``RIGID_ATOL``."""
    a = _finite_block(R, name, ((3, 3), (4, 4)))[:3, :3]
    off = float(np.abs(a.T @ a - np.eye(3)).max())
    if off > RIGID_ATOL:
        raise ValueError(f"{name} must be a rotation, but it is not orthonormal: max |R^T R - I| = {off:.3g}")
    det = float(np.linalg.det(a))
    if abs(det - 1.0) > RIGID_ATOL:
        raise ValueError(f"{name} must be a rotation, but its determinant is {det:.6g}, not +1 (a reflection)")
    return a


def rotation_error_deg(R_est: np.ndarray | Tensor, R_true: np.ndarray | Tensor) -> float:
    """Angle of the rotation ``R_est^T R_true`` in degrees (0 when they agree).

    Args:
        R_est, R_true: 3 x 3 rotations (or 4 x 4 poses, whose rotation block is used); a matrix
            that is not a rotation (``R^T R = I`` and ``det R = +1`` to ``RIGID_ATOL``) is refused.
    """
    a, b = _rotation(R_est, "R_est"), _rotation(R_true, "R_true")
    cos = (np.trace(a.T @ b) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def translation_direction_error_deg(t_est: np.ndarray | Tensor, t_true: np.ndarray | Tensor) -> float:
    """Angle between two translation vectors in degrees (their lengths are ignored).

    Each vector is divided by its largest absolute entry first, so lengths near float64's
    overflow or underflow keep their direction; the angle is ``atan2(|a x b|, a . b)``,
    accurate at small angles too.

    Args:
        t_est, t_true: 3-vectors (or 4 x 4 poses, whose translation is used), finite and not all zero.
    """
    a, b = (_finite_block(t, n, ((3,), (4, 4))) for t, n in ((t_est, "t_est"), (t_true, "t_true")))
    a, b = (x[:3, 3] if x.shape == (4, 4) else x for x in (a, b))
    for x, name in ((a, "t_est"), (b, "t_true")):
        if not np.abs(x).max() > 0:
            raise ValueError(f"{name} must be a non-zero translation, got {x.tolist()}")
    a, b = a / np.abs(a).max(), b / np.abs(b).max()
    return float(np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b)), a @ b)))
