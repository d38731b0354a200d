"""Camera geometry: the pinhole model, poses, back-projection and epipolar lines (chapter 1).

Conventions (``book/conventions.md``):

* pixels: ``u`` is the column, ``v`` the row, integer coordinates are pixel centres;
* ``K`` is 3x3 in pixels; poses are 4x4 ``T_world_cam`` (camera-to-world) in the OpenCV
  camera frame (x right, y down, z forward);
* depth is the z-coordinate in the camera frame in metres; 0 or non-finite is invalid.

Functions take batched torch tensors (``B x ...``) and broadcast a batch of 1. They also take
NumPy arrays (``numpy_in_out``), and then return NumPy arrays.
"""

from __future__ import annotations

from typing import overload

import numpy as np
import torch
from torch import Tensor

from mvdlib._validation import (
    TensorLike,
    as_tensor,
    batch_size,
    check_finite,
    depth_map,
    intrinsics,
    numpy_in_out,
    positive_float,
    positive_int,
    rigid_pose,
    shape_str,
)
from mvdlib.conventions import valid_depth

__all__ = [
    "axis_angle_to_matrix",
    "backproject",
    "epipolar_line",
    "invert_pose",
    "look_at",
    "pixel_grid",
    "project",
    "relative_pose",
    "scale_intrinsics",
    "transform_points",
]

# Half-precision dtypes torch.linalg.inv refuses; K is inverted in float32 for them.
LOW_PRECISION = (torch.float16, torch.bfloat16)
# |F x| below this fraction of F x's size: x is (numerically) the epipole.
EPIPOLE_TOL = 1e-6


def pixel_grid(h: int, w: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> Tensor:
    """Homogeneous pixel coordinates ``[u, v, 1]`` of an ``h x w`` image, row-major.

    Args:
        h, w: image height (rows) and width (columns).
    Returns:
        3 x (h*w); column ``i`` is pixel ``(u, v) = (i % w, i // w)``.

    Example:
        >>> pixel_grid(2, 3)[:, 4].tolist()  # pixel (u, v) = (1, 1)
        [1.0, 1.0, 1.0]
    """
    h = positive_int(h, "h")
    w = positive_int(w, "w")
    v, u = torch.meshgrid(
        torch.arange(h, dtype=dtype, device=device),
        torch.arange(w, dtype=dtype, device=device),
        indexing="ij",
    )
    return torch.stack([u.reshape(-1), v.reshape(-1), torch.ones(h * w, dtype=dtype, device=device)])


def _points(points: Tensor, name: str) -> tuple[Tensor, bool]:
    """Finite points as ``B x 3 x ...``; the flag says the input was an unbatched ``3 x N``."""
    t = as_tensor(points, name)
    if (t.dim() == 2 and t.shape[0] == 3) or (t.dim() >= 3 and t.shape[1] == 3):
        check_finite(t, name)  # a NaN point has no place: invalid depth is lifted to 0, not NaN
        return (t[None], True) if t.dim() == 2 else (t, False)
    raise ValueError(f"{name} must be 3xN or Bx3x... (x, y, z along dim 1), got shape {shape_str(t)}")


@overload
def backproject(depth: Tensor, K: TensorLike) -> Tensor: ...
@overload
def backproject(depth: np.ndarray, K: TensorLike) -> np.ndarray: ...
@numpy_in_out("depth", "K")
def backproject(depth: TensorLike, K: TensorLike) -> TensorLike:
    """Lift a depth map to camera-frame points, ``X = d * K^-1 [u, v, 1]^T`` (chapter 1).

    Args:
        depth: B x 1 x H x W (or H x W) z-depth in metres; 0 or non-finite marks invalid pixels.
        K: B x 3 x 3 (or 3 x 3) intrinsics in pixels.
    Returns:
        B x 3 x H x W points in the camera frame; invalid pixels give 0.

    Example:
        >>> K = torch.tensor([[10.0, 0, 2.0], [0, 10.0, 1.0], [0, 0, 1]])
        >>> backproject(torch.full((1, 1, 3, 5), 2.0), K)[0, :, 1, 2].tolist()  # the principal point
        [0.0, 0.0, 2.0]
    """
    d = depth_map(depth, "depth")
    Kt = intrinsics(K, "K").to(d)
    b = batch_size({"depth": d.shape[0], "K": Kt.shape[0]})
    h, w = d.shape[-2:]
    K_inv = torch.linalg.inv(Kt.float() if Kt.dtype in LOW_PRECISION else Kt).to(d.dtype)  # inv needs >= 32 bits
    rays = K_inv @ pixel_grid(h, w, d.dtype, d.device)  # Bk x 3 x HW
    valid = valid_depth(d)
    d = torch.where(valid, d, torch.zeros_like(d))
    points = rays.reshape(-1, 3, h, w) * d  # B x 3 x H x W
    return points.expand(b, 3, h, w)


@numpy_in_out("points", "K")
def project(points: Tensor, K: Tensor) -> tuple[Tensor, Tensor]:
    """Project camera-frame points to pixels, ``u = K X / z`` (chapter 1).

    Args:
        points: B x 3 x ... (any trailing shape) or 3 x N, camera frame, metres.
        K: B x 3 x 3 (or 3 x 3) intrinsics.
    Returns:
        ``(uv, z)``: B x 2 x ... pixel coordinates and B x 1 x ... depths (unbatched
        2 x N and 1 x N for a 3 x N input and a single ``K``). Points with ``z <= 0``
        (behind the camera) get ``uv = NaN``.

    Example:
        >>> K = torch.tensor([[10.0, 0, 2.0], [0, 10.0, 1.0], [0, 0, 1]])
        >>> uv, z = project(torch.tensor([[0.2], [0.1], [2.0]]), K)
        >>> uv.flatten().tolist(), z.flatten().tolist()
        ([3.0, 1.5], [2.0])
    """
    p, unbatched = _points(points, "points")
    Kt = intrinsics(K, "K").to(p)
    b = batch_size({"points": p.shape[0], "K": Kt.shape[0]})
    flat = p.reshape(p.shape[0], 3, -1)  # B x 3 x N
    q = Kt @ flat  # B x 3 x N
    z = flat[:, 2:3]
    in_front = z > 0
    safe_z = torch.where(in_front, z, torch.ones_like(z))
    uv = torch.where(in_front, q[:, :2] / safe_z, torch.full_like(q[:, :2], float("nan")))
    uv = uv.reshape(b, 2, *p.shape[2:])
    z = z.expand(b, 1, -1).reshape(b, 1, *p.shape[2:])
    if unbatched and b == 1:  # 3 x N points seen by a batch of cameras stay batched
        uv, z = uv[0], z[0]
    return uv, z


@numpy_in_out("points", "T")
def transform_points(T: Tensor, points: Tensor) -> Tensor:
    """Apply a rigid transform, ``X' = R X + t``.

    Args:
        T: B x 4 x 4 (or 4 x 4) rigid transform, e.g. ``T_world_cam``.
        points: B x 3 x ... or 3 x N.
    Returns:
        Points of the same shape, in the frame ``T`` maps into (B x 3 x N for 3 x N points
        and a batch of transforms).

    Example:
        >>> T = torch.eye(4)
        >>> T[:3, 3] = torch.tensor([1.0, 0.0, 0.0])
        >>> transform_points(T, torch.zeros(3, 1)).flatten().tolist()
        [1.0, 0.0, 0.0]
    """
    p, unbatched = _points(points, "points")
    Tt = rigid_pose(T, "T").to(p)
    b = batch_size({"points": p.shape[0], "T": Tt.shape[0]})
    flat = p.reshape(p.shape[0], 3, -1)  # B x 3 x N
    out = Tt[:, :3, :3] @ flat + Tt[:, :3, 3:]  # B x 3 x N
    out = out.reshape(b, 3, *p.shape[2:])
    return out[0] if unbatched and b == 1 else out


@numpy_in_out("T")
def invert_pose(T: Tensor) -> Tensor:
    """Inverse of a rigid transform, ``[R t]^-1 = [R^T, -R^T t]`` (no general matrix inverse).

    Args:
        T: B x 4 x 4 or 4 x 4.
    Returns:
        The inverse, same shape.

    Example:
        >>> T = torch.eye(4)
        >>> T[:3, 3] = torch.tensor([1.0, 2.0, 3.0])
        >>> invert_pose(T)[:3, 3].tolist()
        [-1.0, -2.0, -3.0]
    """
    Tt = rigid_pose(T, "T")
    return _invert_pose(Tt).reshape(as_tensor(T, "T").shape)


def _invert_pose(T: Tensor) -> Tensor:
    """The kernel of :func:`invert_pose`: B x 4 x 4 rigid transforms, unchecked."""
    R_t = T[:, :3, :3].transpose(1, 2)
    inv = torch.zeros_like(T)
    inv[:, :3, :3] = R_t
    inv[:, :3, 3:] = -R_t @ T[:, :3, 3:]
    inv[:, 3, 3] = 1
    return inv


@numpy_in_out("T_world_ref", "T_world_src")
def relative_pose(T_world_ref: Tensor, T_world_src: Tensor) -> Tensor:
    """The transform taking reference-camera points into the source camera.

    ``T_src_ref = inv(T_world_src) @ T_world_ref`` (``book/conventions.md``).

    Args:
        T_world_ref, T_world_src: B x 4 x 4 (or 4 x 4) camera-to-world poses.
    Returns:
        ``T_src_ref``: B x 4 x 4 (4 x 4 when both inputs are unbatched).

    Example:
        >>> T_world_src = torch.eye(4)
        >>> T_world_src[0, 3] = 0.5  # the source camera half a metre to the right
        >>> relative_pose(torch.eye(4), T_world_src)[:3, 3].tolist()
        [-0.5, 0.0, 0.0]
    """
    ref = rigid_pose(T_world_ref, "T_world_ref")
    src = rigid_pose(T_world_src, "T_world_src")
    batch_size({"T_world_ref": ref.shape[0], "T_world_src": src.shape[0]})
    out = _relative_pose(ref, src)
    if as_tensor(T_world_ref, "T_world_ref").dim() == 2 and as_tensor(T_world_src, "T_world_src").dim() == 2:
        out = out[0]
    return out


def _relative_pose(T_world_ref: Tensor, T_world_src: Tensor) -> Tensor:
    """The kernel of :func:`relative_pose`: B x 4 x 4 rigid poses (a batch of 1 broadcasts), unchecked."""
    return _invert_pose(T_world_src.to(T_world_ref)) @ T_world_ref


@overload
def scale_intrinsics(K: Tensor, sx: float, sy: float) -> Tensor: ...
@overload
def scale_intrinsics(K: np.ndarray, sx: float, sy: float) -> np.ndarray: ...
@numpy_in_out("K")
def scale_intrinsics(K: TensorLike, sx: float, sy: float) -> TensorLike:
    """Intrinsics of an image resized by ``sx = W'/W`` and ``sy = H'/H`` (chapter 1).

    With pixel centres at integer coordinates, a resize (``cv2.resize``,
    ``F.interpolate(align_corners=False)``) maps ``u' + 1/2 = sx (u + 1/2)``, so

        fx' = sx fx,  gamma' = sx gamma (the skew),  cx' = sx (cx + 1/2) - 1/2   (and likewise for y).

    Forgetting this step shifts every resized view by half a pixel per halving (chapter 1).

    Args:
        K: 3 x 3 or B x 3 x 3.
        sx, sy: positive scale factors along columns and rows.
    Returns:
        The new intrinsics, same shape and type as ``K``.

    Example:
        >>> import numpy as np
        >>> K = np.array([[100.0, 0, 63.5], [0, 100.0, 47.5], [0, 0, 1]])
        >>> scale_intrinsics(K, 0.5, 0.5)[:2].tolist()  # half size: cx' = (cx + 1/2) / 2 - 1/2
        [[50.0, 0.0, 31.5], [0.0, 50.0, 23.5]]
    """
    Kt = intrinsics(K, "K")
    sx = positive_float(sx, "sx")
    sy = positive_float(sy, "sy")
    S = torch.tensor([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]], dtype=Kt.dtype)
    out = (S.to(Kt.device) @ Kt).reshape(as_tensor(K, "K").shape)
    return out


def _skew(t: Tensor) -> Tensor:
    """Cross-product matrices ``[t]_x`` of B x 3 vectors -> B x 3 x 3."""
    z = torch.zeros_like(t[:, 0])
    return torch.stack(
        [
            torch.stack([z, -t[:, 2], t[:, 1]], -1),
            torch.stack([t[:, 2], z, -t[:, 0]], -1),
            torch.stack([-t[:, 1], t[:, 0], z], -1),
        ],
        1,
    )


@numpy_in_out("uv", "K", "T_src_ref", "K_src")
def epipolar_line(K: Tensor, T_src_ref: Tensor, uv: Tensor, K_src: Tensor | None = None) -> Tensor:
    """Epipolar lines in the source image of reference pixels, ``l = F [u, v, 1]^T`` (chapter 1).

    ``F = K_src^-T [t]_x R K^-1`` with ``(R, t)`` from ``T_src_ref``. Every 3D point on the
    ray of reference pixel ``uv`` projects onto its line ``a u' + b v' + c = 0``.

    Args:
        K: 3 x 3 or B x 3 x 3 reference intrinsics.
        T_src_ref: 4 x 4 or B x 4 x 4 reference-to-source transform (needs a translation).
        uv: reference pixels, 2 x N, B x 2 x N, or a single ``(u, v)``.
        K_src: source intrinsics if they differ from ``K``.
    Returns:
        Lines ``(a, b, c)`` normalised to ``a^2 + b^2 = 1`` (so ``a u + b v + c`` is the
        signed distance in pixels): 3 x N, B x 3 x N, or 3 for a single pixel (B x 3 for
        a single pixel and batched ``K`` or ``T_src_ref``).

    Example:
        >>> K = torch.tensor([[10.0, 0, 2.0], [0, 10.0, 1.0], [0, 0, 1]])
        >>> T = torch.eye(4)
        >>> T[0, 3] = -0.1  # a sideways baseline: horizontal epipolar lines
        >>> epipolar_line(K, T, torch.tensor([4.0, 3.0])).tolist()
        [0.0, 1.0, -3.0]
    """
    Kr = intrinsics(K, "K")
    Ks = Kr if K_src is None else intrinsics(K_src, "K_src").to(Kr)
    T = rigid_pose(T_src_ref, "T_src_ref").to(Kr)
    pix = as_tensor(uv, "uv").to(Kr)
    single = pix.dim() == 1
    if single:
        pix = pix[:, None]
    if pix.dim() == 2:
        pix = pix[None]
    if pix.dim() != 3 or pix.shape[1] != 2:
        raise ValueError(f"uv must be (2,), 2xN or Bx2xN, got shape {shape_str(as_tensor(uv, 'uv'))}")
    check_finite(pix, "uv")
    t = T[:, :3, 3]
    if (t.norm(dim=1) < 1e-9).any():
        raise ValueError("T_src_ref must have a non-zero translation: epipolar lines need a baseline")
    b = batch_size({"K": Kr.shape[0], "K_src": Ks.shape[0], "T_src_ref": T.shape[0], "uv": pix.shape[0]})
    F = torch.linalg.inv(Ks).transpose(1, 2) @ _skew(t) @ T[:, :3, :3] @ torch.linalg.inv(Kr)
    hom = torch.cat([pix, torch.ones_like(pix[:, :1])], 1)  # B x 3 x N
    lines = F @ hom
    scale = lines[:, :2].norm(dim=1, keepdim=True)  # B x 1 x N; 0 at the epipole, where no line is defined
    at_epipole = scale <= EPIPOLE_TOL * lines.abs().amax(dim=1, keepdim=True).clamp(min=1.0)
    if at_epipole.any():
        raise ValueError(
            "uv must not be the epipole (the image of the source camera's centre), where the epipolar "
            f"line is undefined; {int(at_epipole.sum())} of the pixels are"
        )
    lines = lines / scale
    lines = lines.expand(b, 3, -1)
    if single:
        lines = lines[:, :, 0] if b > 1 else lines[0, :, 0]
    elif as_tensor(uv, "uv").dim() == 2 and lines.shape[0] == 1:
        lines = lines[0]
    return lines


@overload
def axis_angle_to_matrix(axis_angle: Tensor) -> Tensor: ...
@overload
def axis_angle_to_matrix(axis_angle: np.ndarray) -> np.ndarray: ...
@numpy_in_out("axis_angle")
def axis_angle_to_matrix(axis_angle: TensorLike) -> TensorLike:
    """Rotation matrices from axis-angle vectors (Rodrigues' formula).

    ``R = I + sin(th) [k]_x + (1 - cos(th)) [k]_x^2`` with ``th = |w|``, ``k = w / th``.

    Args:
        axis_angle: B x 3 or 3, radians.
    Returns:
        B x 3 x 3 or 3 x 3.

    Example:
        >>> R = axis_angle_to_matrix(torch.tensor([0.0, 0.0, torch.pi / 2]))  # 90 degrees about z
        >>> (R @ torch.tensor([1.0, 0.0, 0.0])).round(decimals=6).tolist()
        [0.0, 1.0, 0.0]
    """
    w = as_tensor(axis_angle, "axis_angle")
    single = w.dim() == 1
    if w.shape[-1:] != (3,) or w.dim() > 2:
        raise ValueError(f"axis_angle must be 3 or Bx3, got shape {shape_str(as_tensor(axis_angle, 'axis_angle'))}")
    w = w.reshape(-1, 3)
    check_finite(w, "axis_angle")
    theta = w.norm(dim=1, keepdim=True)[..., None]  # B x 1 x 1
    k = _skew(w / theta.reshape(-1, 1).clamp_min(1e-12))
    eye = torch.eye(3, dtype=w.dtype, device=w.device).expand_as(k)
    R = eye + torch.sin(theta) * k + (1 - torch.cos(theta)) * (k @ k)
    return R[0] if single else R


@overload
def look_at(eye: Tensor, target: TensorLike, up: TensorLike | tuple[float, float, float] = ...) -> Tensor: ...
@overload
def look_at(eye: np.ndarray, target: TensorLike, up: TensorLike | tuple[float, float, float] = ...) -> np.ndarray: ...
@numpy_in_out("eye", "target", "up")
def look_at(
    eye: TensorLike, target: TensorLike, up: TensorLike | tuple[float, float, float] = (0.0, -1.0, 0.0)
) -> TensorLike:
    """Camera-to-world pose of a camera at ``eye`` looking at ``target`` (OpenCV frame).

    The camera's z axis points at the target, its x axis to the right and its y axis
    down, so ``up`` is the world direction that should appear at the top of the image.

    Args:
        eye, target: 3-vectors in world coordinates (metres).
        up: world "up" (default ``-y``, i.e. a world whose y axis points down).
    Returns:
        4 x 4 ``T_world_cam`` (float64 for NumPy input, the input's dtype otherwise).

    Example:
        >>> import numpy as np
        >>> T = look_at(np.array([0.0, 0.0, -2.0]), np.zeros(3))
        >>> T[:3, 2].tolist()  # the camera's z axis points at the target
        [0.0, 0.0, 1.0]
    """
    e = as_tensor(eye, "eye")
    tgt = as_tensor(target, "target").to(e)
    u = as_tensor(up, "up").to(e)
    for name, v in (("eye", e), ("target", tgt), ("up", u)):
        if v.shape != (3,):
            raise ValueError(f"{name} must be a 3-vector, got shape {shape_str(v)}")
        check_finite(v, name)
    z = tgt - e
    if z.norm() < 1e-9:
        raise ValueError("eye and target must differ")
    z = z / z.norm()
    x = torch.linalg.cross(-u, z)  # image right = down x forward
    if x.norm() < 1e-9:
        raise ValueError("up must not be parallel to the viewing direction target - eye")
    x = x / x.norm()
    y = torch.linalg.cross(z, x)
    T = torch.eye(4, dtype=e.dtype, device=e.device)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, e
    return T
