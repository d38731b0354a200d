"""The plane-sweep cost volume of MVDepthNet (Wang and Shen 2018; chapter 9).

For every inverse depth ``xi`` (the book's xi) of a sweep, the reference pixel ``u = [u, v, 1]^T`` is lifted
onto the fronto-parallel plane at depth ``1/xi``, moved into the source camera and projected
(the homography of the plane):

    u_src ~ K R K^-1 u / xi + K t   ~   K R K^-1 u + xi K t,

and the cost of that plane is ``sum_c |ref_c(u) - src_c(u_src)|``. The second form (multiply
by ``xi``, which leaves a homogeneous point unchanged) is what makes the sweep cheap: with
``a(u) = K R K^-1 u`` and ``b = K t`` computed once, each plane costs one multiply-add per
pixel before the bilinear lookup.

Conventions (``book/conventions.md``): pixel centres at integer ``(u, v)``, ``grid_sample`` with
``align_corners=True`` and ``x = 2u/(W-1) - 1``; ``T_src_ref`` maps reference-camera points
into the source camera.

Pixels that warp outside the source image follow the original implementation, which calls
``grid_sample`` with zero padding: the warped value is 0, so the cost there is
``sum_c |ref_c|`` (a pixel whose four bilinear taps straddle the border blends the inside
taps with zeros). A plane point behind the source camera (``z_src <= 0``, numerically
``<= MIN_Z``) cannot be seen and is treated the same way, as outside the image; the original divides by ``z + 1e-6``
regardless of its sign and samples a mirrored pixel there.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from mvdlib._validation import (
    as_tensor,
    batch_size,
    check_finite,
    check_int,
    intrinsics,
    positive_float,
    positive_int,
    rigid_pose,
    shape_str,
    value_checks_enabled,
)
from mvdlib.conventions import MAX_DEPTH, MIN_DEPTH, NUM_DEPTHS
from mvdlib.geometry import _relative_pose, pixel_grid

__all__ = [
    "MAX_DEPTH",
    "MIN_DEPTH",
    "NUM_DEPTHS",
    "cost_volume_from_world_poses",
    "inverse_depth_samples",
    "multi_view_cost_volume",
    "plane_sweep_cost_volume",
    "warp_to_planes",
    "winner_take_all",
]

# A plane point whose source-camera z (scaled by the inverse depth xi, as in a + xi b) is at
# most MIN_Z is treated as behind the camera: this keeps the perspective divide finite (no
# inf or NaN reaches grid_sample), and a point that close to the camera plane projects
# millions of pixels outside the image anyway. The original adds 1e-6 to z for the same end.
MIN_Z = 1e-6
# A normalised grid_sample coordinate whose four bilinear taps lie outside any image at
# least 2 pixels wide and high (x = 3 is pixel u = 2(W-1) >= W): where points behind the
# source camera are sent.
OUTSIDE = 3.0
# Rounding allowance when deciding from min(a_z) + xi b_z whether any pixel of a plane can be
# behind the source camera (homogeneous z is of order 1, float32 rounding of order 1e-7).
BEHIND_MARGIN = 1e-4

# On the CPU the planes are warped in chunks whose warped images (chunk x C x H x W floats)
# stay near 4 MB: in cache when their cost is summed, and reused by the allocator (at 8 MB glibc
# returns the freed blocks to the kernel after every chunk: about 12,000 minor page faults per
# 1 x 64 x 256 x 320 volume against 600, and 28 ms against 24 ms; benchmarks/cost_volume.py
# --chunks 4 8). grid_sample spreads a batch over the CPU threads, so each chunk goes in as one
# batch of planes. On a GPU one chunk holds every plane.
CPU_CHUNK_ELEMENTS = 2**20


def inverse_depth_samples(
    num: int = NUM_DEPTHS,
    min_depth: float = MIN_DEPTH,
    max_depth: float = MAX_DEPTH,
    device: torch.device | str | None = None,
) -> Tensor:
    """Inverse depths of the plane sweep, uniform from ``1/max_depth`` to ``1/min_depth`` (chapter 9).

    Sample ``i`` is ``1/max_depth + i (1/min_depth - 1/max_depth) / (num - 1)``, as in
    MVDepthNet's ``getVolume``.

    Args:
        num: number of planes D (at least 2).
        min_depth, max_depth: depth range in metres, ``0 < min_depth < max_depth``.
        device: where the result lives (default: the CPU).
    Returns:
        D float32 inverse depths in 1/m, ascending (index 0 is the farthest plane).

    Example:
        >>> inverse_depth_samples(3, min_depth=0.5, max_depth=2.0).tolist()
        [0.5, 1.25, 2.0]
    """
    num = check_int(num, "num", min=2)  # a sweep has two ends
    min_depth, max_depth = positive_float(min_depth, "min_depth"), positive_float(max_depth, "max_depth")
    near, far, f32 = 1.0 / min_depth, 1.0 / max_depth, torch.finfo(torch.float32)
    if not (f32.tiny <= far and near <= f32.max and (near - far) / (num - 1) > f32.eps * near):
        raise ValueError(f"min_depth < max_depth must give {num} distinct float32 planes, got {min_depth}, {max_depth}")
    return torch.linspace(1.0 / max_depth, 1.0 / min_depth, num, dtype=torch.float32, device=device)


def _images(x: Tensor, name: str, ndim: int) -> Tensor:
    t = as_tensor(x, name)
    if t.dim() != ndim:
        form = "BxCxHxW" if ndim == 4 else "BxNxCxHxW"
        raise ValueError(f"{name} must be {form}, got shape {shape_str(t)}")
    if t.shape[-1] < 2 or t.shape[-2] < 2 or t.shape[-3] < 1:
        raise ValueError(f"{name} must be at least 2x2 pixels with a channel or more, got shape {shape_str(t)}")
    check_finite(t, name)
    return t


def _inverse_depths(inv_depths: Tensor, like: Tensor) -> Tensor:
    s = as_tensor(inv_depths, "inv_depths")
    if s.dim() != 1 or s.numel() == 0:
        raise ValueError(f"inv_depths must be a non-empty 1-D tensor of length D, got shape {shape_str(s)}")
    check_finite(s, "inv_depths")
    if value_checks_enabled() and (s <= 0).any():
        raise ValueError(f"inv_depths must be positive (1/m), got minimum {s.min().item():.4g}")
    return s.to(like)


def _sweep_coefficients(K: Tensor, T_src_ref: Tensor, h: int, w: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """``a = N K R K^-1 [u, v, 1]`` (B x 3 x HW) and ``b = N K t`` (B x 3); N maps pixels to grid_sample's [-1, 1]."""
    to_grid = torch.tensor(
        [[2.0 / (w - 1), 0.0, -1.0], [0.0, 2.0 / (h - 1), -1.0], [0.0, 0.0, 1.0]], dtype=torch.float64, device=K.device
    )
    Kd = K.double()
    R, t = T_src_ref[:, :3, :3].double(), T_src_ref[:, :3, 3:].double()
    homography = to_grid @ Kd @ R @ torch.linalg.inv(Kd)  # B x 3 x 3, the plane at infinity
    b = (to_grid @ Kd @ t)[..., 0].to(like)  # B x 3
    a = homography.to(like) @ pixel_grid(h, w, like.dtype, like.device)  # B x 3 x HW
    return a, b


def _plane_grid(a: Tensor, b: Tensor, s: Tensor, xyz: Tensor, maybe_behind: bool) -> Tensor:
    """grid_sample coordinates of the planes ``s`` (n x 1), computed in place in ``xyz`` (3 x n x HW).

    ``x = (a_x + s b_x) / (a_z + s b_z)``, likewise ``y``: one add per coordinate and plane,
    in planar layout so that every step vectorises. Points with ``a_z + s b_z <= MIN_Z``
    (behind the source camera) get ``OUTSIDE``; without ``maybe_behind`` (:func:`_maybe_behind`)
    there are none, and the mask pass is skipped. Returns the x and y planes of ``xyz``, 2 x n x HW.
    """
    sb = s * b[:, None, None]  # 3 x n x 1
    # Homogeneous source pixels: a plain broadcast add of the 3 x n products is about three
    # times faster than one fused addcmul over the 3 x n x HW output (benchmarks/cost_volume.py).
    torch.add(a[:, None, :], sb, out=xyz)
    z = xyz[2]
    behind = z <= MIN_Z if maybe_behind else None  # rare: skip the mask pass
    xy = xyz[:2].mul_(z.reciprocal_())
    if behind is not None:
        xy.masked_fill_(behind, OUTSIDE)
    return xy


def _maybe_behind(a: Tensor, b: Tensor, s: Tensor, chunk: int) -> list[list[bool]]:
    """Per batch item of ``a``/``b`` and chunk of planes: can a pixel be behind the source camera?

    ``min(a_z) + s b_z`` is the minimum of ``a_z + s b_z`` over the pixels (no pass over the
    data); the margin covers rounding. One read-back (``tolist``) per sweep.
    """
    z_min = a[:, 2].amin(dim=1)[:, None] + s[None, :] * b[:, 2, None]  # B x D, as in _plane_grid's a + s b
    chunk_min = torch.stack([z_min[:, d0 : d0 + chunk].amin(dim=1) for d0 in range(0, s.numel(), chunk)], dim=1)
    return (chunk_min <= MIN_Z + BEHIND_MARGIN).tolist()


def _sweep(
    src: Tensor, K: Tensor, T_src_ref: Tensor, s: Tensor, batch: int, planes_per_chunk: int | None
) -> Iterator[tuple[int, int, Tensor]]:
    """Warp ``src`` through the planes ``s``, a chunk of planes at a time.

    Yields ``(i, d0, warped)``: batch item ``i``, first plane ``d0`` of the chunk and the
    n x C x H x W warped source images of planes ``d0 .. d0 + n - 1``. Inputs are validated
    B x C x H x W (or batch 1, broadcast to ``batch``), B x 3 x 3, B x 4 x 4 and D.
    """
    c, h, w = src.shape[1:]
    num_planes = s.numel()
    if planes_per_chunk is None:
        planes_per_chunk = num_planes if src.is_cuda else max(1, CPU_CHUNK_ELEMENTS // (c * h * w))
    chunk = min(planes_per_chunk, num_planes)
    with torch.no_grad():  # the geometry: gradients flow to the images only
        a, b = _sweep_coefficients(K, T_src_ref, h, w, src)
        maybe_behind = _maybe_behind(a, b, s, chunk)  # per batch item of a and b, and chunk
    # The coordinate buffer is reused across chunks (a fresh multi-megabyte tensor per chunk costs page
    # faults); when src needs a gradient, grid_sample saves its grid, so each chunk then gets its own.
    fresh_grids = torch.is_grad_enabled() and src.requires_grad
    xyz_buffer = src.new_empty(3, chunk, h * w)
    for i in range(batch):
        src_i, a_i, b_i = src[i % src.shape[0]], a[i % a.shape[0]], b[i % b.shape[0]]
        for d0 in range(0, num_planes, chunk):
            s_chunk = s[d0 : d0 + chunk, None]  # n x 1
            n = s_chunk.shape[0]
            xyz = torch.empty_like(xyz_buffer[:, :n]) if fresh_grids else xyz_buffer[:, :n]
            with torch.no_grad():
                xy = _plane_grid(a_i, b_i, s_chunk, xyz, maybe_behind[i % a.shape[0]][d0 // chunk])
            # n x H x W x 2 as a view of the planar x and y (strides HW, W, 1, n HW): grid_sample
            # reads it as fast as an interleaved copy, as long as u runs contiguously.
            grid = xy.view(2, n, h, w).permute(1, 2, 3, 0)
            # One batch of n planes: grid_sample spreads a batch over the CPU threads.
            yield i, d0, F.grid_sample(src_i.expand(n, c, h, w), grid, align_corners=True)


def _like(t: Tensor, src: Tensor, ref: Tensor) -> Tensor:
    """``t`` in the source images' dtype and device, then the reference's (the order of the conversions is kept)."""
    return t.to(src).to(ref)


def _chunk(planes_per_chunk: int | None) -> int | None:
    return None if planes_per_chunk is None else positive_int(planes_per_chunk, "planes_per_chunk")


def _plane_sweep(
    ref: Tensor, src: Tensor, K: Tensor, T_src_ref: Tensor, s: Tensor, batch: int, planes_per_chunk: int | None
) -> Tensor:
    """The cost volume of checked inputs of one dtype and device (the kernel of :func:`plane_sweep_cost_volume`)."""
    cost = ref.new_empty(batch, s.numel(), *ref.shape[2:])
    for i, d0, warped in _sweep(src, K, T_src_ref, s, batch, planes_per_chunk):
        ref_i = ref[i % ref.shape[0]]
        out = cost[i, d0 : d0 + warped.shape[0]]  # n x H x W
        if warped.requires_grad:  # out= does not record gradients
            out[:] = (warped - ref_i).abs().sum(1)
        else:  # channel by channel, in place: a quarter faster than sub, abs and sum over C x H x W
            torch.sub(warped[:, 0], ref_i[0], out=out).abs_()
            for ch in range(1, warped.shape[1]):
                out.add_(warped[:, ch].sub_(ref_i[ch]).abs_())
    return cost


def _multi_view(
    ref: Tensor, srcs: Tensor, K: Tensor, T_src_refs: Tensor, s: Tensor, planes_per_chunk: int | None
) -> Tensor:
    """The mean cost volume of checked inputs (the kernel of :func:`multi_view_cost_volume`)."""
    num_views = srcs.shape[1]
    total = None
    for j in range(num_views):
        src = srcs[:, j]
        Kj, Tj, sj = _like(K, src, ref), _like(T_src_refs[:, j], src, ref), _like(s, src, ref)
        b = batch_size({"ref": ref.shape[0], "srcs": src.shape[0], "K": Kj.shape[0], "T_src_refs": Tj.shape[0]})
        volume = _plane_sweep(ref, src.to(ref), Kj, Tj, sj, b, planes_per_chunk)
        total = volume if total is None else total + volume
    return total / num_views


def _same_image_size(ref: Tensor, src: Tensor, src_name: str) -> None:
    if ref.shape[-3:] != src.shape[-3:]:
        raise ValueError(f"ref and {src_name} must have the same C x H x W, got {shape_str(ref)} and {shape_str(src)}")


def warp_to_planes(src: Tensor, K: Tensor, T_src_ref: Tensor, inv_depths: Tensor) -> Tensor:
    """The source image warped into the reference view through each plane, ``src(H_d u)`` (chapter 9).

    What :func:`plane_sweep_cost_volume` compares with the reference image; for figures
    and explorers (it returns D images, so keep D small at large sizes).

    Args:
        src: B x C x H x W source images.
        K: 3 x 3 or B x 3 x 3 intrinsics; T_src_ref: 4 x 4 or B x 4 x 4 reference-to-source transform.
        inv_depths: D positive inverse depths in 1/m.
    Returns:
        B x D x C x H x W warped images; 0 where the plane point falls outside the source image.

    Example:
        >>> K = torch.tensor([[4.0, 0, 3.5], [0, 4.0, 2.5], [0, 0, 1]])
        >>> warp_to_planes(torch.rand(1, 3, 6, 8), K, torch.eye(4), inverse_depth_samples(4)).shape
        torch.Size([1, 4, 3, 6, 8])
    """
    src_t = _images(src, "src", 4)
    Kt = intrinsics(K, "K").to(src_t)
    Tt = rigid_pose(T_src_ref, "T_src_ref").to(src_t)
    s = _inverse_depths(inv_depths, src_t)
    b = batch_size({"src": src_t.shape[0], "K": Kt.shape[0], "T_src_ref": Tt.shape[0]})
    planes = [[] for _ in range(b)]
    for i, _, warped in _sweep(src_t, Kt, Tt, s, b, None):
        planes[i].append(warped)
    return torch.stack([torch.cat(p) for p in planes])


def plane_sweep_cost_volume(
    ref: Tensor,
    src: Tensor,
    K: Tensor,
    T_src_ref: Tensor,
    inv_depths: Tensor,
    planes_per_chunk: int | None = None,
) -> Tensor:
    """Plane-sweep cost volume ``C[d, u] = sum_c |ref_c(u) - src_c(H_d u)|`` (MVDepthNet; chapter 9).

    ``H_d u ~ K R K^-1 u + s_d K t`` warps the reference pixel ``u`` through the
    fronto-parallel plane at inverse depth ``s_d`` into the source image, sampled
    bilinearly. Pixels that warp outside the source image (or behind its camera) see a
    warped value of 0, as with the original's zero padding (see the module docstring).

    Args:
        ref: B x C x H x W reference images (MVDepthNet uses ``(rgb - 81) / 35``).
        src: B x C x H x W source ("measurement") images, the same size as ``ref``.
        K: 3 x 3 or B x 3 x 3 intrinsics in pixels, shared by both views.
        T_src_ref: 4 x 4 or B x 4 x 4 rigid transform from the reference to the source camera.
        inv_depths: D positive inverse depths in 1/m (e.g. :func:`inverse_depth_samples`).
        planes_per_chunk: planes warped per ``grid_sample`` call; default: as many as fit
            in ``CPU_CHUNK_ELEMENTS`` on the CPU, all of them on a GPU. It changes speed and
            memory, not the result.
    Returns:
        B x D x H x W costs, on the device and in the dtype of ``ref``; differentiable with
        respect to the images (``K`` and the pose are treated as constants).

    Example:
        >>> K = torch.tensor([[4.0, 0, 3.5], [0, 4.0, 2.5], [0, 0, 1]])
        >>> img = torch.rand(1, 3, 6, 8)
        >>> cost = plane_sweep_cost_volume(img, img, K, torch.eye(4), inverse_depth_samples(4))
        >>> cost.shape, bool(cost.max() < 1e-5)  # no motion: every plane matches (to rounding)
        (torch.Size([1, 4, 6, 8]), True)
    """
    ref_t = _images(ref, "ref", 4)
    src_t = _images(src, "src", 4)
    Kt = intrinsics(K, "K")
    Tt = rigid_pose(T_src_ref, "T_src_ref")
    s = _inverse_depths(inv_depths, src_t)
    chunk = _chunk(planes_per_chunk)
    _same_image_size(ref_t, src_t, "src")
    b = batch_size({"ref": ref_t.shape[0], "src": src_t.shape[0], "K": Kt.shape[0], "T_src_ref": Tt.shape[0]})
    return _plane_sweep(ref_t, src_t.to(ref_t), _like(Kt, src_t, ref_t), _like(Tt, src_t, ref_t), s.to(ref_t), b, chunk)


def _view_poses(T: Tensor, name: str, num_views: int | None) -> Tensor:
    """``N x 4 x 4`` or ``B x N x 4 x 4`` rigid poses as ``B x N x 4 x 4`` (N >= 1, or N = num_views when given)."""
    T = as_tensor(T, name)
    if T.dim() == 3:
        T = T[None]
    n = T.shape[1] if T.dim() == 4 else -1
    if T.dim() != 4 or T.shape[-2:] != (4, 4) or n == 0 or (num_views is not None and n != num_views):
        views = "N >= 1" if num_views is None else f"N={num_views}"
        raise ValueError(f"{name} must be Nx4x4 or BxNx4x4 with {views} views, got shape {shape_str(T)}")
    rigid_pose(T.reshape(-1, 4, 4), name)
    return T


def multi_view_cost_volume(
    ref: Tensor,
    srcs: Tensor,
    K: Tensor,
    T_src_refs: Tensor,
    inv_depths: Tensor,
    planes_per_chunk: int | None = None,
) -> Tensor:
    """Mean of the plane-sweep cost volumes of several source views (MVDepthNet, Sec. III-B; chapter 9).

    Args:
        ref: B x C x H x W reference images.
        srcs: B x N x C x H x W source images.
        K: 3 x 3 or B x 3 x 3 intrinsics shared by all views.
        T_src_refs: N x 4 x 4 or B x N x 4 x 4 transforms from the reference to each source camera.
        inv_depths: D positive inverse depths in 1/m.
        planes_per_chunk: passed to :func:`plane_sweep_cost_volume`.
    Returns:
        B x D x H x W mean cost over the N views.

    Example:
        >>> K = torch.tensor([[4.0, 0, 3.5], [0, 4.0, 2.5], [0, 0, 1]])
        >>> ref, srcs, poses = torch.rand(1, 3, 6, 8), torch.rand(1, 2, 3, 6, 8), torch.eye(4).repeat(2, 1, 1)
        >>> multi_view_cost_volume(ref, srcs, K, poses, inverse_depth_samples(4)).shape
        torch.Size([1, 4, 6, 8])
    """
    ref_t = _images(ref, "ref", 4)
    srcs_t = _images(srcs, "srcs", 5)
    Kt = intrinsics(K, "K")
    T = _view_poses(T_src_refs, "T_src_refs", srcs_t.shape[1])
    s = _inverse_depths(inv_depths, srcs_t)
    chunk = _chunk(planes_per_chunk)
    _same_image_size(ref_t, srcs_t, "srcs")
    return _multi_view(ref_t, srcs_t, Kt, T, s, chunk)


def cost_volume_from_world_poses(
    ref: Tensor,
    srcs: Tensor,
    K: Tensor,
    T_world_ref: Tensor,
    T_world_srcs: Tensor,
    inv_depths: Tensor,
    planes_per_chunk: int | None = None,
) -> Tensor:
    """:func:`multi_view_cost_volume` from camera-to-world poses, as datasets and captures store them.

    Forms ``T_src_ref = inv(T_world_src) @ T_world_ref`` for every source view
    (:func:`mvdlib.geometry.relative_pose`) and averages the plane-sweep volumes (chapter 9).

    Args:
        ref: B x C x H x W reference images.
        srcs: B x N x C x H x W source images.
        K: 3 x 3 or B x 3 x 3 intrinsics shared by all views.
        T_world_ref: 4 x 4 or B x 4 x 4 reference camera-to-world pose.
        T_world_srcs: N x 4 x 4 or B x N x 4 x 4 source camera-to-world poses.
        inv_depths: D positive inverse depths in 1/m.
        planes_per_chunk: passed to :func:`plane_sweep_cost_volume`.
    Returns:
        B x D x H x W mean cost over the N views.

    Example:
        >>> K = torch.tensor([[4.0, 0, 3.5], [0, 4.0, 2.5], [0, 0, 1]])
        >>> T_src = torch.eye(4)
        >>> T_src[0, 3] = 0.1
        >>> ref, srcs = torch.rand(1, 3, 6, 8), torch.rand(1, 1, 3, 6, 8)
        >>> cost_volume_from_world_poses(ref, srcs, K, torch.eye(4), T_src[None], inverse_depth_samples(4)).shape
        torch.Size([1, 4, 6, 8])
    """
    ref_t = _images(ref, "ref", 4)
    srcs_t = _images(srcs, "srcs", 5)
    Kt = intrinsics(K, "K")
    T_ref = rigid_pose(T_world_ref, "T_world_ref")
    T_srcs = _view_poses(T_world_srcs, "T_world_srcs", srcs_t.shape[1])
    s = _inverse_depths(inv_depths, srcs_t)
    chunk = _chunk(planes_per_chunk)
    _same_image_size(ref_t, srcs_t, "srcs")
    b = max(T_ref.shape[0], T_srcs.shape[0])
    if T_ref.shape[0] not in (1, b) or T_srcs.shape[0] not in (1, b):
        raise ValueError(
            "T_world_ref and T_world_srcs must have the same batch size (or 1), "
            f"got {shape_str(T_ref)} and {shape_str(T_srcs)}"
        )
    n = T_srcs.shape[1]
    T_ref = T_ref.to(T_srcs.dtype).expand(b, 4, 4)[:, None].expand(b, n, 4, 4).reshape(b * n, 4, 4)
    T_src_refs = _relative_pose(T_ref, T_srcs.expand(b, n, 4, 4).reshape(b * n, 4, 4)).reshape(b, n, 4, 4)
    return _multi_view(ref_t, srcs_t, Kt, T_src_refs, s, chunk)


def winner_take_all(cost: Tensor, inv_depths: Tensor) -> Tensor:
    """Per-pixel inverse depth of the cheapest plane, ``s_{argmin_d C[d, u]}`` (chapter 9).

    Args:
        cost: B x D x H x W cost volume.
        inv_depths: the D inverse depths (1/m) the volume was built with.
    Returns:
        B x 1 x H x W inverse depth in 1/m (not differentiable: argmin).

    Example:
        >>> cost = torch.tensor([3.0, 1.0, 2.0]).reshape(1, 3, 1, 1)
        >>> winner_take_all(cost, torch.tensor([0.1, 0.5, 1.0])).flatten().tolist()
        [0.5]
    """
    c = as_tensor(cost, "cost")
    if c.dim() != 4 or c.shape[1] == 0:
        raise ValueError(f"cost must be BxDxHxW with D >= 1, got shape {shape_str(c)}")
    if torch.isnan(c).any():  # argmin would pick the NaN plane
        raise ValueError("cost must not contain NaN (argmin would pick that plane), got NaN values")
    s = _inverse_depths(inv_depths, c)
    if s.numel() != c.shape[1]:
        raise ValueError(f"inv_depths must have one entry per plane, D={c.shape[1]}, got {s.numel()}")
    return s[c.argmin(dim=1, keepdim=True)]
