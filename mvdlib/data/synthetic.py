"""The synthetic multi-view data set of the book, cached on disk (chapter 2).

A sample is a reference view, ``N`` source views, their intrinsics and poses and the
reference view's exact depth, rendered from a procedural room: the scene
(:mod:`mvdlib.data.scene`) with its textures (:mod:`mvdlib.data.textures`), a camera
trajectory in it (:mod:`mvdlib.data.trajectory`) and the ray-cast renderer
(:mod:`mvdlib.data.render`). :func:`warp_to_reference` checks a sample's geometry: the
source warped into the reference with the true depth reproduces the reference.

Conventions (``book/conventions.md``): world frame with z up (floor at z = 0); poses are
4 x 4 ``T_world_cam`` in the OpenCV camera frame; depth is the camera-frame z in metres,
0 where a ray hits nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from mvdlib._io import atomic_write
from mvdlib._validation import check_choice, check_int, intrinsics, positive_float, positive_int, rigid_pose
from mvdlib.conventions import check_seed, valid_depth

# The rooms, textures, cameras and renderer lived in this module before it was split by
# concern; their names stay importable from here (not listed in __all__).
from mvdlib.data.camera import (  # noqa: F401  (moved; old path kept for readers' notebooks)
    DEFAULT_HEIGHT,
    DEFAULT_WIDTH,
    FOCAL_PER_WIDTH,
    default_intrinsics,
)
from mvdlib.data.render import (  # noqa: F401  (moved; old path kept for readers' notebooks)
    AMBIENT,
    MIN_FOOTPRINT_COSINE,
    SHADOW_EPSILON,
    TRIPLANAR_MIN_WEIGHT,
    _noise_std,
    render_view,
    render_views,
)
from mvdlib.data.sample import Sample
from mvdlib.data.scene import (  # noqa: F401  (moved; old path kept for readers' notebooks)
    LIGHT_BELOW_CEILING,
    MESH_RESOLUTION,
    NUM_OBJECTS_RANGE,
    OBJECT_KINDS,
    OBJECT_SIZE_RANGE,
    ROOM_HEIGHT_RANGE,
    ROOM_LENGTH_RANGE,
    ROOM_WIDTH_RANGE,
    TEXEL_SIZE_RANGE,
    Surface,
    SyntheticScene,
)
from mvdlib.data.textures import (  # noqa: F401  (moved; old path kept for readers' notebooks)
    GREY_TEXTURES,
    MIN_MIP_SIZE,
    NOISE_SPECTRAL_EXPONENT,
    NOISE_TEXTURE_SEED,
    NUM_NOISE_TEXTURES,
    TEXTURE_FILES,
    TEXTURE_SOURCE_SIZE,
    TextureAtlas,
    sample_texture,
    texture_bank,
)
from mvdlib.data.trajectory import (  # noqa: F401  (moved; old path kept for readers' notebooks)
    BASELINE_RANGE,
    CAMERA_ATTEMPTS,
    CLOSE_UP_DISTANCE,
    CLOSE_UP_PROBABILITY,
    DEFAULT_DEPTH_RANGE,
    DEPTH_PROBE_PERCENTILES,
    MAX_SOURCE_ROTATION,
    _depth_range,
    sample_trajectory,
)
from mvdlib.geometry import backproject, project, relative_pose, transform_points

__all__ = [
    "SCENES_PER_SPLIT",
    "SPLITS",
    "SYNTHETIC_VERSION",
    "SyntheticMultiViewDataset",
    "default_cache_dir",
    "warp_to_reference",
]

_log = logging.getLogger(__name__)

# Part of every cache key: bump it whenever rendering, textures or sampling change, so
# stale cached samples are never served.
SYNTHETIC_VERSION = 3

SPLITS = ("train", "val", "test")
# Scene seeds of the splits lie in disjoint ranges: split k of dataset seed s uses
# s * len(SPLITS) * SCENES_PER_SPLIT + k * SCENES_PER_SPLIT + [0, num_scenes).
SCENES_PER_SPLIT = 1_000_000


def warp_to_reference(sample: Mapping[str, Tensor], view: int = 0, depth_scale: float = 1.0) -> tuple[Tensor, Tensor]:
    """Warp source view ``view`` of a sample into the reference with the reference depth (chapter 2).

    A reference pixel ``p`` with depth ``z`` lands in the source at
    ``p_src ~ K (R_sr z K^-1 p + t_sr)`` with ``[R_sr | t_sr] = T_src_ref =
    inv(T_world_src) T_world_ref``; the source is sampled there bilinearly
    (``grid_sample``, ``align_corners=True``). With the true depth the warped image equals
    the reference wherever the point is visible in both views.

    Args:
        sample: a dict as returned by :class:`SyntheticMultiViewDataset` or
            :func:`mvdlib.data.real.load_stereo_pair` (``src_images`` N x 3 x H x W, ``K``,
            ``T_world_ref``, ``T_world_srcs``, ``ref_depth`` 1 x H x W).
        view: which source view.
        depth_scale: multiply the depth by this (1 = the true depth).
    Returns:
        ``(warped, valid)``: 3 x H x W warped source image, and H x W bool mask of pixels
        with a valid depth that project inside the source image.

    Example:
        >>> sample = SyntheticMultiViewDataset("val", 1, 1, height=16, width=16, cache=False)[0]
        >>> warped, valid = warp_to_reference(sample, view=0)
        >>> warped.shape, valid.dtype
        (torch.Size([3, 16, 16]), torch.bool)
    """
    missing = {"src_images", "K", "T_world_ref", "T_world_srcs", "ref_depth"} - set(sample)
    if missing:
        raise ValueError(f"sample must have the dataset's keys, missing {sorted(missing)}")
    n = sample["src_images"].shape[0]
    view = check_int(view, "view", min=0, max=n - 1)
    depth_scale = positive_float(depth_scale, "depth_scale")
    depth = sample["ref_depth"][None] * depth_scale  # 1 x 1 x H x W
    h, w = depth.shape[-2:]
    T_src_ref = relative_pose(sample["T_world_ref"], sample["T_world_srcs"][view])
    uv, _ = project(transform_points(T_src_ref, backproject(depth, sample["K"])), sample["K"])  # 1 x 2 x H x W
    grid = torch.stack([2 * uv[:, 0] / (w - 1) - 1, 2 * uv[:, 1] / (h - 1) - 1], dim=-1)  # 1 x H x W x 2
    grid = torch.nan_to_num(grid, nan=2.0)  # behind the camera: outside the image
    warped = F.grid_sample(sample["src_images"][view][None], grid, align_corners=True)[0]
    valid = valid_depth(depth[0, 0]) & (grid[0].abs() <= 1).all(-1)
    return warped, valid


def _bad_values(sample: dict[str, np.ndarray]) -> str | None:
    """What is wrong with the values of a cached sample (non-finite or negative depth, an invalid ``K``,
    a pose that is not rigid), or ``None``: a damaged or tampered file is rendered again, not served."""
    depth = sample["ref_depth"]
    if not np.isfinite(depth).all() or (depth < 0).any() or not (depth > 0).any():
        return "a depth map that is not finite and non-negative with some valid pixels"
    try:
        intrinsics(torch.from_numpy(sample["K"].astype(np.float64)), "K")
        rigid_pose(torch.from_numpy(sample["T_world_ref"].astype(np.float64)), "T_world_ref")
        rigid_pose(torch.from_numpy(sample["T_world_srcs"].astype(np.float64)), "T_world_srcs")
    except ValueError as err:
        return f"not a valid sample ({err})"
    return None


def default_cache_dir() -> Path:
    """Where rendered samples are cached: ``$MVDLIB_CACHE`` or ``~/.cache/mvdlib``.

    Example:
        >>> isinstance(default_cache_dir(), Path)
        True
    """
    return Path(os.environ.get("MVDLIB_CACHE") or Path.home() / ".cache" / "mvdlib")


class SyntheticMultiViewDataset(Dataset):
    """Reference view, N source views, intrinsics, poses and reference depth (chapter 2).

    Sample ``i`` comes from scene ``i // samples_per_scene`` of the split and trajectory
    ``i % samples_per_scene`` in it. The splits draw their scene seeds from disjoint
    ranges, so no scene appears in two splits; everything is a function of ``seed``.
    Rendered samples are cached on disk as ``.npz`` files named by a hash of every
    parameter that changes them (and ``SYNTHETIC_VERSION``), so a second epoch or a
    second notebook run reads instead of rendering (uncompressed, about 1 MB per sample at
    320 x 256: compression saved a quarter of the space and cost more than the read).

    Args:
        split: "train", "val" or "test".
        num_scenes: scenes in the split.
        samples_per_scene: trajectories rendered per scene.
        num_sources: source views N per sample.
        height, width: image size (default 256 x 320, MVDepthNet's).
        seed: dataset seed.
        cache_dir: cache folder (default :func:`default_cache_dir`).
        cache: set False to render every time and write nothing.
        noise_std: Gaussian sensor noise in grey levels (0 = none).
        depth_range: ``(near, far)`` metres that most of every view's depths lie in.
    Returns (``__getitem__``):
        dict of torch tensors: ``ref_image`` 3 x H x W float32 RGB in 0..255 (not
        normalised), ``src_images`` N x 3 x H x W, ``K`` 3 x 3, ``T_world_ref`` 4 x 4,
        ``T_world_srcs`` N x 4 x 4, ``ref_depth`` 1 x H x W (0 = invalid), all float32.

    Example:
        >>> data = SyntheticMultiViewDataset("val", num_scenes=1, samples_per_scene=1, height=8, width=8, cache=False)
        >>> {k: tuple(v.shape) for k, v in data[0].items()}["src_images"]
        (2, 3, 8, 8)
    """

    def __init__(
        self,
        split: str = "train",
        num_scenes: int = 20,
        samples_per_scene: int = 10,
        num_sources: int = 2,
        height: int = DEFAULT_HEIGHT,
        width: int = DEFAULT_WIDTH,
        seed: int = 0,
        cache_dir: str | os.PathLike | None = None,
        cache: bool = True,
        noise_std: float = 0.0,
        depth_range: tuple[float, float] = DEFAULT_DEPTH_RANGE,
    ) -> None:
        self.split = check_choice(split, "split", SPLITS)
        self.num_scenes = check_int(num_scenes, "num_scenes", min=1, max=SCENES_PER_SPLIT)
        self.samples_per_scene = positive_int(samples_per_scene, "samples_per_scene")
        self.num_sources = positive_int(num_sources, "num_sources")
        self.height = positive_int(height, "height")
        self.width = positive_int(width, "width")
        self.seed = check_seed(seed)
        self.noise_std = _noise_std(noise_std)
        self.depth_range = _depth_range(depth_range)
        if not isinstance(cache, bool):
            raise TypeError(f"cache must be True or False, got {cache!r}")
        self.cache = cache
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._scenes: OrderedDict[int, SyntheticScene] = OrderedDict()

    def __len__(self) -> int:
        return self.num_scenes * self.samples_per_scene

    def __repr__(self) -> str:
        return (
            f"SyntheticMultiViewDataset(split={self.split!r}, num_scenes={self.num_scenes}, "
            f"samples_per_scene={self.samples_per_scene}, num_sources={self.num_sources}, "
            f"height={self.height}, width={self.width}, seed={self.seed})"
        )

    def __getstate__(self) -> dict[str, object]:  # DataLoader workers: scenes are rebuilt, not pickled
        state = self.__dict__.copy()
        state["_scenes"] = OrderedDict()
        return state

    def scene_seed(self, scene_index: int) -> int:
        """Seed of scene ``scene_index`` of this split (disjoint ranges per split)."""
        if not 0 <= scene_index < self.num_scenes:
            raise IndexError(f"scene_index must be in [0, {self.num_scenes}), got {scene_index}")
        return (self.seed * len(SPLITS) + SPLITS.index(self.split)) * SCENES_PER_SPLIT + scene_index

    def scene(self, scene_index: int) -> SyntheticScene:
        """The :class:`~mvdlib.data.scene.SyntheticScene` of scene ``scene_index`` (a few are kept in memory)."""
        key = self.scene_seed(scene_index)
        if key not in self._scenes:
            self._scenes[key] = SyntheticScene(key)
            while len(self._scenes) > 2:
                self._scenes.popitem(last=False)
        return self._scenes[key]

    def cache_key(self, index: int) -> str:
        """Hash of every parameter that determines sample ``index``."""
        params = {
            "version": SYNTHETIC_VERSION,
            "scene_seed": self.scene_seed(index // self.samples_per_scene),
            "trajectory": index % self.samples_per_scene,
            "num_sources": self.num_sources,
            "height": self.height,
            "width": self.width,
            "noise_std": self.noise_std,
            "depth_range": self.depth_range,
        }
        return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:32]

    def render(self, index: int) -> dict[str, np.ndarray]:
        """Render sample ``index`` as NumPy arrays (uint8 images), bypassing the cache."""
        scene_index, trajectory = divmod(index, self.samples_per_scene)
        scene = self.scene(scene_index)
        rng = np.random.default_rng([scene.seed, trajectory])
        T_ref, T_srcs = sample_trajectory(scene, rng, self.num_sources, self.depth_range)
        K = default_intrinsics(self.height, self.width)
        poses = np.concatenate([T_ref[None], T_srcs])  # reference first: the noise is drawn in this order
        rgb, depth = render_views(scene, K, poses, self.height, self.width, self.noise_std, rng)
        return {
            "ref_image": rgb[0],
            "src_images": rgb[1:],
            "K": K,
            "T_world_ref": T_ref,
            "T_world_srcs": T_srcs,
            "ref_depth": depth[0],
        }

    def _expected_shapes(self) -> dict[str, tuple[tuple[int, ...], np.dtype | None]]:
        h, w, n = self.height, self.width, self.num_sources
        return {
            "ref_image": ((h, w, 3), np.dtype(np.uint8)),
            "src_images": ((n, h, w, 3), np.dtype(np.uint8)),
            "K": ((3, 3), None),
            "T_world_ref": ((4, 4), None),
            "T_world_srcs": ((n, 4, 4), None),
            "ref_depth": ((h, w), None),
        }

    def _read_cached(self, path: Path) -> dict[str, np.ndarray] | None:
        """The cached sample at ``path``; ``None`` if absent, or if damaged or of other settings (logged)."""
        try:
            with np.load(path, allow_pickle=False) as f:
                sample = {k: f[k] for k in f.files}  # reading every member checks its CRC
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            problem = f"unreadable ({type(err).__name__}: {err})"
        else:
            got = {k: (v.shape, v.dtype) for k, v in sample.items()}
            wrong = [
                k for k, (shape, dtype) in self._expected_shapes().items()
                if k not in got or got[k][0] != shape or (dtype is not None and got[k][1] != dtype)
            ]  # fmt: skip
            bad_values = None if wrong else _bad_values(sample)
            if not wrong and bad_values is None:
                return sample
            problem = bad_values or f"entries {wrong} missing or of another shape or dtype than {self!r} makes"
        _log.warning("cache file %s is %s: rendering the sample again and replacing it", path, problem)
        return None

    def _load_or_render(self, index: int) -> dict[str, np.ndarray]:
        if not self.cache:
            return self.render(index)
        path = self.cache_dir / "synthetic" / f"{self.cache_key(index)}.npz"
        if path.is_dir():  # not a cache file: an empty folder is replaced, a full one left alone
            with contextlib.suppress(OSError):
                path.rmdir()
        sample = self._read_cached(path) if not path.is_dir() else None
        if sample is None:
            sample = self.render(index)
            if path.is_dir():
                _log.warning("cache path %s is a folder that is not empty: the sample is not cached", path)
            else:
                atomic_write(path, lambda f: np.savez(f, **sample))  # type: ignore[arg-type]  # readers never see a partial file
        return sample

    def __getitem__(self, index: int) -> Sample:
        if isinstance(index, Tensor) and index.dim() == 0 and not index.is_floating_point() and not index.is_complex():
            index = int(index)  # a sampler's or a loop's integer tensor
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index must be in [0, {len(self)}), got {index}")
        s = self._load_or_render(int(index))
        return {
            "ref_image": torch.from_numpy(s["ref_image"].astype(np.float32)).permute(2, 0, 1),
            "src_images": torch.from_numpy(s["src_images"].astype(np.float32)).permute(0, 3, 1, 2),
            "K": torch.from_numpy(s["K"].astype(np.float32)),
            "T_world_ref": torch.from_numpy(s["T_world_ref"].astype(np.float32)),
            "T_world_srcs": torch.from_numpy(s["T_world_srcs"].astype(np.float32)),
            "ref_depth": torch.from_numpy(s["ref_depth"].astype(np.float32))[None],
        }
