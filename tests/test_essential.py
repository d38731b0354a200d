"""The essential matrix written out (mvdlib.poses): against closed forms and OpenCV."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mvdlib.poses import cheirality_counts, decompose_essential, essential_matrix, triangulate_depths


def _random_motion(rng: np.random.Generator) -> np.ndarray:
    """A random reference-to-source transform with a unit-length translation."""
    R, _ = cv2.Rodrigues(rng.normal(scale=0.3, size=3))
    t = rng.normal(size=3)
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t / np.linalg.norm(t)
    return T


def _scene(rng: np.random.Generator, T: np.ndarray, n: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points in front of both cameras: their normalised coordinates in each, and their true depths."""
    X = rng.uniform([-1, -1, 3], [1, 1, 6], size=(4 * n, 3))
    Y = X @ T[:3, :3].T + T[:3, 3]
    keep = Y[:, 2] > 0.5
    X, Y = X[keep][:n], Y[keep][:n]
    return X / X[:, 2:], Y / Y[:, 2:], np.stack([X[:, 2], Y[:, 2]], 1)


def _case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A random motion T, matches in both cameras (normalised coordinates) and its essential matrix."""
    rng = np.random.default_rng(seed)
    T = _random_motion(rng)
    x_ref, x_src, _ = _scene(rng, T)
    return T, x_ref, x_src, essential_matrix(T)


@pytest.mark.parametrize("seed", range(5))
def test_epipolar_constraint_holds_for_projected_points(seed):
    T, x_ref, x_src, E = _case(seed)
    residual = np.einsum("ni,ij,nj->n", x_src, E, x_ref)
    assert np.abs(residual).max() < 1e-12
    s = np.linalg.svd(E, compute_uv=False)  # two equal singular values, one zero (the five-point solver's constraint)
    np.testing.assert_allclose(s, [1.0, 1.0, 0.0], atol=1e-12)


def _same_set(ours: list[np.ndarray], theirs: list[tuple[np.ndarray, np.ndarray]]) -> bool:
    return all(
        any(np.allclose(T[:3, :3], R, atol=1e-9) and np.allclose(T[:3, 3], t.ravel(), atol=1e-9) for R, t in theirs)
        for T in ours
    )


@pytest.mark.parametrize("seed", range(5))
def test_four_candidates_match_opencv(seed):
    rng = np.random.default_rng(seed)
    E = essential_matrix(_random_motion(rng)) * rng.uniform(0.1, 10)
    R1, R2, t = cv2.decomposeEssentialMat(E)
    theirs = [(R1, t), (R1, -t), (R2, t), (R2, -t)]
    ours = decompose_essential(E)
    assert len(ours) == 4 and _same_set(ours, theirs)
    for T in ours:
        assert np.allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3)) and np.isclose(np.linalg.det(T[:3, :3]), 1.0)
        E_back = essential_matrix(T)  # each candidate gives back E up to scale and sign
        k = np.vdot(E_back, E) / np.vdot(E_back, E_back)
        np.testing.assert_allclose(k * E_back, E, atol=1e-9 * np.abs(E).max())


@pytest.mark.parametrize("seed", range(5))
def test_triangulated_depths_are_the_true_ones_and_agree_with_opencv(seed):
    rng = np.random.default_rng(seed)
    T = _random_motion(rng)
    x_ref, x_src, depths = _scene(rng, T)
    ours = triangulate_depths(x_ref, x_src, T)
    np.testing.assert_allclose(ours, depths, rtol=1e-9)
    X = cv2.triangulatePoints(np.eye(4)[:3], T[:3], x_ref[:, :2].T, x_src[:, :2].T)  # DLT, an independent method
    np.testing.assert_allclose(ours[:, 0], X[2] / X[3], rtol=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_cheirality_picks_the_true_motion_and_opencvs(seed):
    T, x_ref, x_src, E = _case(seed)
    counts = cheirality_counts(x_ref, x_src, E)
    best = int(np.argmax(counts))
    assert counts[best] == len(x_ref) and sorted(counts)[-2] < len(x_ref)
    T_best = decompose_essential(E)[best]
    np.testing.assert_allclose(T_best[:3], T[:3], atol=1e-9)
    _, R_cv, t_cv, _ = cv2.recoverPose(E, x_ref[:, :2], x_src[:, :2], np.eye(3))
    np.testing.assert_allclose(T_best[:3, :3], R_cv, atol=1e-9)
    np.testing.assert_allclose(T_best[:3, 3], t_cv.ravel(), atol=1e-9)


def test_bad_inputs_are_refused_by_name():
    with pytest.raises(ValueError, match="E must have rank 2"):
        decompose_essential(np.diag([1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="x_src"):
        triangulate_depths(np.ones((3, 3)), np.ones((3, 2)), np.eye(4))
    with pytest.raises(ValueError, match="parallel"):
        T = np.eye(4)
        T[0, 3] = 1.0
        triangulate_depths(np.array([[1.0, 0.0, 1.0]]), np.array([[1.0, 0.0, 1.0]]), T)
