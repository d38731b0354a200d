"""Independent references for ``mvdlib.cost_volume``, shared by the tests and the benchmark.

* :func:`original_get_volume` ports ``getVolume`` of the released MVDepthNet
  (``depthNet_model.py``, HKUST-Aerial-Robotics/MVDepthNet) to modern PyTorch, keeping its
  structure: the pixel grid built with ``np.indices([W, H])`` (column-major), the
  per-depth loop over ``KRKiUV * depth + KT``, the ``+ 1e-6`` in the division, and the
  ``view(B, 2, W, H).permute(0, 3, 2, 1)`` into a grid. Two lines change. The depth range
  and plane count come from ``inv_depths`` instead of the hard-coded
  ``1/50 + i (1/0.5 - 1/50) / 63``. The normalisation follows the book's pixel-centre
  convention ``x = 2u/(W-1) - 1`` with ``align_corners=True``: the original divided by
  ``W/2`` under PyTorch 0.4's ``grid_sample`` (whose behaviour is ``align_corners=True``),
  which samples pixel ``u (W-1)/W`` instead of ``u``, a shift of up to one pixel at the
  right and bottom borders.
* :func:`per_pixel_warp` and :func:`per_pixel_cost_volume` are the definition written
  out: loops over planes and pixels, the 3-D point on the plane, its projection, and
  bilinear sampling by hand with zeros outside the image. Only for tiny images.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def original_precompute(K: np.ndarray, T_src_ref: np.ndarray, height: int, width: int) -> tuple[Tensor, Tensor]:
    """``KRKiUV`` (1 x 3 x W*H, column-major pixels) and ``KT`` (1 x 3 x 1), as in the original example.py."""
    pixel_coordinate = np.indices([width, height]).astype(np.float32)
    pixel_coordinate = np.concatenate((pixel_coordinate, np.ones([1, width, height], np.float32)), axis=0)
    pixel_coordinate = np.reshape(pixel_coordinate, [3, -1])
    K = np.asarray(K, np.float64)
    T = np.asarray(T_src_ref, np.float64)
    KRK_i = K.dot(T[:3, :3].dot(np.linalg.inv(K)))
    KRKiUV = KRK_i.dot(pixel_coordinate).astype(np.float32)[None]
    KT = K.dot(T[:3, 3]).astype(np.float32)[None, :, None]
    return torch.from_numpy(KRKiUV), torch.from_numpy(KT)


def original_get_volume(left_image: Tensor, right_image: Tensor, KRKiUV_T: Tensor, KT_T: Tensor, inv_depths: Tensor):
    """MVDepthNet's ``getVolume``: one ``grid_sample`` per plane. Images B x C x H x W; returns B x D x H x W."""
    batch_number, _, image_height, image_width = left_image.shape
    costvolume = left_image.new_empty(batch_number, len(inv_depths), image_height, image_width)
    normalize_base = torch.tensor([(image_width - 1) / 2.0, (image_height - 1) / 2.0], device=left_image.device)
    normalize_base = normalize_base.unsqueeze(0).unsqueeze(-1)
    KRKiUV_T = KRKiUV_T.to(left_image.device)
    KT_T = KT_T.to(left_image.device)
    for depth_i in range(len(inv_depths)):
        this_depth = 1.0 / float(inv_depths[depth_i])
        transformed = KRKiUV_T * this_depth + KT_T
        demon = transformed[:, 2, :].unsqueeze(1)
        warp_uv = transformed[:, 0:2, :] / (demon + 1e-6)
        warp_uv = (warp_uv - normalize_base) / normalize_base
        warp_uv = warp_uv.view(batch_number, 2, image_width, image_height)
        warp_uv = warp_uv.permute(0, 3, 2, 1)
        warped = F.grid_sample(right_image, warp_uv, align_corners=True)
        costvolume[:, depth_i, :, :] = torch.sum(torch.abs(warped - left_image), dim=1)
    return costvolume


def _bilinear(image: np.ndarray, u: float, v: float) -> np.ndarray:
    """Sample C x H x W ``image`` at (u, v) (pixel centres at integers), taps outside the image count as 0."""
    _, h, w = image.shape
    u0, v0 = math.floor(u), math.floor(v)
    value = np.zeros(image.shape[0])
    for du in (0, 1):
        for dv in (0, 1):
            uu, vv = u0 + du, v0 + dv
            weight = (1 - abs(u - uu)) * (1 - abs(v - vv))
            if 0 <= uu < w and 0 <= vv < h:
                value += weight * image[:, vv, uu]
    return value


def per_pixel_warp(src: Tensor, K: Tensor, T_src_ref: Tensor, inv_depths: Tensor) -> Tensor:
    """The source image seen through each plane, by loops in float64. src 1 x C x H x W; returns 1 x D x C x H x W."""
    src_np = src[0].double().numpy()
    K_np = K.double().numpy()
    K_inv = np.linalg.inv(K_np)
    R = T_src_ref[:3, :3].double().numpy()
    t = T_src_ref[:3, 3].double().numpy()
    c, h, w = src_np.shape
    out = np.zeros((len(inv_depths), c, h, w))
    for d, s in enumerate(inv_depths.tolist()):
        for v in range(h):
            for u in range(w):
                X_ref = K_inv @ np.array([u, v, 1.0]) / s  # the point on the plane z = 1/s
                X_src = R @ X_ref + t
                if X_src[2] > 0:  # behind the source camera: treated as outside the image (0)
                    x = K_np @ X_src
                    out[d, :, v, u] = _bilinear(src_np, x[0] / x[2], x[1] / x[2])
    return torch.from_numpy(out)[None]


def per_pixel_cost_volume(ref: Tensor, src: Tensor, K: Tensor, T_src_ref: Tensor, inv_depths: Tensor) -> Tensor:
    """The cost volume by its definition, ``sum_c |ref_c - warped_c|`` in float64. Returns 1 x D x H x W."""
    warped = per_pixel_warp(src, K, T_src_ref, inv_depths)
    return (ref.double()[:, None] - warped).abs().sum(2)
