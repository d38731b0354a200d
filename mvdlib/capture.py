"""A ten-view capture of one synthetic room for the point-cloud chapters (12 and 13).

Ten reference cameras stand side by side in the near part of a :class:`~mvdlib.data.scene.SyntheticScene` room
and look at its far half; each has a few measurement frames a hand's width away. For every
reference view the capture holds the image, the true depth, and depth estimated four ways:
winner-take-all (WTA) on a cost volume from one measurement frame and from all of them
averaged, and MVDepthNet from the same two cost volumes. Ground-truth points are sampled
from the scene's meshes where the reference cameras can see them.

Rendering fifty views and running the network takes minutes on a CPU, so
``python -m mvdlib.capture --out data/ten_views.npz`` computed the committed capture once
(with its provenance and sha256; without ``--out`` the command writes a new
``runs/ten_views.npz``); :func:`load_capture` reads it back in a
fraction of a second. Depth-like maps are stored as 16-bit inverse depth (see
``INV_DEPTH_QUANTUM``), ground-truth points as 16-bit millimetres, images as PNG.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import open3d as o3d
import torch

from mvdlib._io import atomic_write, check_writable_folder, sha256_of, verify_sha256
from mvdlib._validation import CommandLineParser, numeric_array
from mvdlib.conventions import PAPER_SIZE, check_seed, valid_depth
from mvdlib.cost_volume import cost_volume_from_world_poses, inverse_depth_samples, winner_take_all
from mvdlib.data.camera import default_intrinsics
from mvdlib.data.render import render_view
from mvdlib.data.scene import SyntheticScene
from mvdlib.data.synthetic import SCENES_PER_SPLIT
from mvdlib.geometry import look_at
from mvdlib.inference import predict
from mvdlib.models.mvdepthnet import MVDepthNet, load_pretrained
from mvdlib.open3d_io import voxel_down_sample
from mvdlib.pointcloud import DepthView, consistency_counts
from mvdlib.resources import data_path

__all__ = [
    "DEFAULT_CAPTURE",
    "DEPTH_METHODS",
    "capture",
    "decode_inverse_depth",
    "encode_inverse_depth",
    "load_capture",
    "save_capture",
    "sweep_cameras",
]

DEFAULT_CAPTURE = data_path("ten_views.npz")
# Scene 9 of the test split (dataset seed 0), so no network trained by ``mvdlib.train`` has
# seen it: spheres, a torus, cones and boxes in front of the far wall, i.e. many depth edges;
# chosen by looking at renders of test scenes 0-11.
SCENE_SEED = 2 * SCENES_PER_SPLIT + 9
NUM_VIEWS = 10
NUM_SOURCES = 4
# Reference eyes span the middle 50 % of the room's width at 12 % of its length, 1.5 m up,
# all looking at a point 70 % down the room, 0.7 m above the floor.
EYE_X_RANGE = (0.25, 0.75)
EYE_Y_FRACTION = 0.12
EYE_HEIGHT = 1.5
TARGET_FRACTIONS = (0.5, 0.7)
TARGET_HEIGHT = 0.7
# Measurement frames: offsets of 10-25 cm, within the training data's baselines
# (mvdlib.data.synthetic.BASELINE_RANGE = 3-30 cm), looking at the same target.
SOURCE_BASELINE = (0.10, 0.25)
# Ground truth: points sampled per square metre of surface, then thinned on a voxel grid.
GT_POINTS_PER_M2 = 20_000
GT_VOXEL = 0.02  # metres
# Inverse depth in [0, 4] 1/m (depths from 0.25 m; MVDepthNet's outputs stop at 2 1/m)
# stored as uint16: a step of 4 / 65535 1/m, a relative depth error of at most 3e-5 * d
# (3e-4 at 10 m).
MAX_INV_DEPTH = 4.0
INV_DEPTH_QUANTUM = MAX_INV_DEPTH / 65535
# Ground-truth points are stored to the millimetre (well below GT_VOXEL and every threshold).
POINT_QUANTUM = 0.001
DEPTH_METHODS = ("gt", "wta_single", "wta_average", "mvdepthnet_single", "mvdepthnet_average")
UP = np.array([0.0, 0.0, 1.0])  # the synthetic world's z axis points up


def encode_inverse_depth(depth: np.ndarray) -> np.ndarray:
    """H x W depth (m, 0 = invalid) -> uint16 inverse depth in units of ``INV_DEPTH_QUANTUM``.

    Example:
        >>> encode_inverse_depth(np.array([[0.0, 1.0], [2.0, 4.0]])).tolist()
        [[0, 16384], [8192, 4096]]
    """
    d = numeric_array(depth, "depth", (2,)).astype(np.float64)
    if (d < 0).any():
        raise ValueError("depth must not be negative (0 or NaN mark invalid pixels)")
    valid = valid_depth(d)
    inv = np.where(valid, 1.0 / np.where(valid, d, 1.0), 0.0)
    if (inv > MAX_INV_DEPTH).any():
        raise ValueError(f"depth must be at least {1 / MAX_INV_DEPTH} m where valid")
    code = np.minimum(np.round(inv / INV_DEPTH_QUANTUM), 65535).astype(np.uint16)
    code[valid & (code == 0)] = 1  # keep valid pixels valid
    return code


def decode_inverse_depth(code: np.ndarray) -> np.ndarray:
    """The inverse of :func:`encode_inverse_depth`: float32 depth in metres, 0 = invalid.

    Example:
        >>> decode_inverse_depth(np.array([[0, 16384]], dtype=np.uint16)).round(4).tolist()
        [[0.0, 1.0]]
    """
    inv = numeric_array(code, "code", (2, 3), integer=True).astype(np.float64) * INV_DEPTH_QUANTUM
    return np.where(inv > 0, 1.0 / np.where(inv > 0, inv, 1.0), 0.0).astype(np.float32)


def sweep_cameras(
    scene: SyntheticScene, num_views: int = NUM_VIEWS, num_sources: int = NUM_SOURCES, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Reference cameras side by side across the room and measurement frames around each.

    Args:
        scene: a random-room :class:`~mvdlib.data.scene.SyntheticScene`.
        num_views: reference cameras V; num_sources: measurement frames N per reference.
        seed: seed of the measurement frames' offsets.
    Returns:
        ``(T_world_refs, T_world_srcs)``: V x 4 x 4 and V x N x 4 x 4 camera-to-world poses.
    """
    check_seed(seed, "seed")
    if scene.room_size is None:
        raise ValueError("scene must be a random room, SyntheticScene(seed)")
    room = scene.room_size
    rng = np.random.default_rng(seed)
    target = np.array([TARGET_FRACTIONS[0] * room[0], TARGET_FRACTIONS[1] * room[1], TARGET_HEIGHT])
    refs, srcs = [], []
    for x in np.linspace(*EYE_X_RANGE, num_views):
        eye = np.array([x * room[0], EYE_Y_FRACTION * room[1], EYE_HEIGHT])
        refs.append(np.asarray(look_at(eye, target, UP)))
        frames = []
        while len(frames) < num_sources:
            step = rng.normal(size=3)
            src_eye = eye + step / np.linalg.norm(step) * rng.uniform(*SOURCE_BASELINE)
            if scene.segment_is_free(eye, src_eye):
                frames.append(np.asarray(look_at(src_eye, target, UP)))
        srcs.append(np.stack(frames))
    return np.stack(refs), np.stack(srcs)


def _wta_depth(ref: np.ndarray, srcs: np.ndarray, K: np.ndarray, T_ref: np.ndarray, T_srcs: np.ndarray) -> np.ndarray:
    """Winner-take-all depth of a reference image from the mean cost volume of its frames."""
    as_images = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(0, 3, 1, 2)  # noqa: E731
    inv_depths = inverse_depth_samples()
    cost = cost_volume_from_world_poses(
        as_images(ref[None]), as_images(srcs)[None], torch.as_tensor(K), torch.as_tensor(T_ref),
        torch.as_tensor(T_srcs), inv_depths,
    )  # fmt: skip
    return (1.0 / winner_take_all(cost, inv_depths))[0, 0].numpy()


def _ground_truth_points(scene: SyntheticScene, views: list[DepthView], density: float, seed: int) -> np.ndarray:
    """Mesh samples (``density`` per m^2) that a reference view sees (its true depth agrees within 1 %)."""
    o3d.utility.random.seed(seed)
    chunks = []
    for surface in scene.surfaces:
        count = max(1, int(surface.mesh.get_surface_area() * density))
        chunks.append(np.asarray(surface.mesh.sample_points_uniformly(count).points))
    points = np.concatenate(chunks)
    points = points[consistency_counts(points, views) >= 1]
    return voxel_down_sample(points, None, GT_VOXEL)[0]


def capture(
    scene_seed: int = SCENE_SEED,
    num_views: int = NUM_VIEWS,
    num_sources: int = NUM_SOURCES,
    height: int = PAPER_SIZE[0],
    width: int = PAPER_SIZE[1],
    model: MVDepthNet | None = None,
    seed: int = 0,
    gt_points_per_m2: float = GT_POINTS_PER_M2,
) -> dict[str, Any]:
    """Render the capture and estimate its depth maps (the work behind ``python -m mvdlib.capture``).

    Args:
        scene_seed: the :class:`~mvdlib.data.scene.SyntheticScene` seed.
        num_views, num_sources: reference views and measurement frames per reference.
        height, width: image size.
        model: an MVDepthNet in eval mode, or ``None`` to skip the network's depth maps.
        seed: seed of the measurement frames and of the ground-truth samples.
        gt_points_per_m2: density of the mesh samples before voxel thinning.
    Returns:
        dict: ``rgb`` V x H x W x 3 uint8, ``K`` 3 x 3, ``T_world_refs`` V x 4 x 4,
        ``T_world_srcs`` V x N x 4 x 4, ``depth`` {method: V x H x W float32 metres},
        ``gt_points`` M x 3, ``provenance`` dict.
    """
    scene = SyntheticScene(check_seed(scene_seed, "scene_seed"))
    check_seed(seed, "seed")
    K = default_intrinsics(height, width)
    T_refs, T_srcs = sweep_cameras(scene, num_views, num_sources, seed)
    rgb, depth = [], {m: [] for m in DEPTH_METHODS}
    for T_ref, T_src in zip(T_refs, T_srcs, strict=True):
        ref_rgb, ref_depth = render_view(scene, K, T_ref, height, width)
        src_rgb = np.stack([render_view(scene, K, T, height, width)[0] for T in T_src])
        rgb.append(ref_rgb)
        depth["gt"].append(ref_depth)
        depth["wta_single"].append(_wta_depth(ref_rgb, src_rgb[:1], K, T_ref, T_src[:1]))
        depth["wta_average"].append(_wta_depth(ref_rgb, src_rgb, K, T_ref, T_src))
        if model is not None:
            depth["mvdepthnet_single"].append(predict(model, ref_rgb, src_rgb[:1], K, T_ref, T_src[:1]))
            depth["mvdepthnet_average"].append(predict(model, ref_rgb, src_rgb, K, T_ref, T_src))
    views = [DepthView(d, K, T) for d, T in zip(depth["gt"], T_refs, strict=True)]
    return {
        "rgb": np.stack(rgb),
        "K": K,
        "T_world_refs": T_refs,
        "T_world_srcs": T_srcs,
        "depth": {m: np.stack(v) for m, v in depth.items() if v},
        "gt_points": _ground_truth_points(scene, views, gt_points_per_m2, seed).astype(np.float32),
        "provenance": {"scene_seed": scene_seed, "num_sources": num_sources, "seed": seed},
    }


def _encode_points(points: np.ndarray) -> dict[str, np.ndarray]:
    """M x 3 points as uint16 millimetres from their minimum corner (rooms are < 65 m)."""
    origin = np.asarray(points, dtype=np.float64).min(0)
    code = np.round((points - origin) / POINT_QUANTUM)
    if code.max() > np.iinfo(np.uint16).max:
        raise ValueError(f"points must span at most {np.iinfo(np.uint16).max * POINT_QUANTUM} m")
    return {"gt_origin": origin, "gt_points_mm": code.astype(np.uint16)}


def _arrays_digest(arrays: Any) -> str:
    """Hex sha256 of a capture's arrays (names, dtypes, shapes, bytes), the ``digest`` entry excluded."""
    h = hashlib.sha256()
    for name in sorted(k for k in arrays if k != "digest"):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_capture(path: str | Path, data: dict[str, Any]) -> Path:
    """Write a capture to a compressed ``.npz`` (depths as uint16 inverse depth, images as PNG), atomically.

    The file stores the digest of its arrays (``digest``), which :func:`load_capture` verifies.
    """
    if not isinstance(data, dict):
        raise TypeError(f"data must be a capture dict (see capture()), got {type(data).__name__}")
    missing = sorted({"K", "T_world_refs", "T_world_srcs", "gt_points", "provenance", "rgb", "depth"} - set(data))
    if missing:
        raise ValueError(f"data must be a capture dict (see capture()), missing keys {missing}")
    path = Path(path)
    arrays = {
        "K": data["K"],
        "T_world_refs": data["T_world_refs"],
        "T_world_srcs": data["T_world_srcs"],
        **_encode_points(data["gt_points"]),
        "provenance": np.array(json.dumps(data["provenance"])),
    }
    for i, img in enumerate(data["rgb"]):
        ok, png = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        if not ok:
            raise OSError("OpenCV could not encode a PNG")
        arrays[f"rgb_{i}"] = png
    for method, maps in data["depth"].items():
        arrays[f"invdepth_{method}"] = np.stack([encode_inverse_depth(d) for d in maps])
    arrays["digest"] = np.array(_arrays_digest(arrays))
    return atomic_write(path, lambda f: np.savez_compressed(f, **arrays))


def load_capture(path: str | Path | None = None) -> dict[str, Any]:
    """Read a capture written by :func:`save_capture` (default: the committed ``data/ten_views.npz``).

    A file that stores the digest of its arrays (written by :func:`save_capture`) is verified
    against it; a provenance JSON beside it that records a ``sha256`` is checked too. The
    committed ``data/ten_views.npz`` predates the digest and is verified by its JSON alone;
    when the digest verifies but the JSON differs (a run killed between writing the file and
    its JSON), the JSON is stale: a warning, and the file loads.

    Returns:
        The dict of :func:`capture`; ``depth`` holds the methods the file has.
    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file differs from its own digest or its recorded sha256 (damaged), naming
            how to restore it.
    """
    if path is not None and not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str, Path or None, got {type(path).__name__}")
    path = DEFAULT_CAPTURE if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"path must be a capture file, but it is not found: {path}; create it with python -m mvdlib.capture"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            recorded = str(f["digest"]) if "digest" in f else None
            actual = _arrays_digest({k: f[k] for k in f.files}) if recorded is not None else None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(
            f"path {path} is not a readable capture (truncated, damaged or of another kind: {type(err).__name__}: "
            f"{err}); create it with python -m mvdlib.capture"
        ) from err
    if recorded != actual:
        raise ValueError(f"capture {path} is damaged: its arrays differ from the digest stored in it")
    verify_sha256(path, self_verified=recorded is not None)
    try:
        return _read_capture(path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, cv2.error) as err:
        raise ValueError(
            f"path {path} is not a readable capture (truncated, damaged or of another kind: {type(err).__name__}: "
            f"{err}); create it with python -m mvdlib.capture"
        ) from err


def _read_capture(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as f:
        num_views = len(f["T_world_refs"])
        rgb = [cv2.cvtColor(cv2.imdecode(f[f"rgb_{i}"], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for i in range(num_views)]
        return {
            "rgb": np.stack(rgb),
            "K": f["K"],
            "T_world_refs": f["T_world_refs"],
            "T_world_srcs": f["T_world_srcs"],
            "depth": {m: decode_inverse_depth(f[f"invdepth_{m}"]) for m in DEPTH_METHODS if f"invdepth_{m}" in f},
            "gt_points": f["gt_origin"] + f["gt_points_mm"] * POINT_QUANTUM,
            "provenance": json.loads(str(f["provenance"])),
        }


# Where the command writes by default: a new file under the working folder, never the
# committed capture (replace that one deliberately, with --out data/ten_views.npz).
DEFAULT_OUT = Path("runs") / "ten_views.npz"


def _parser() -> CommandLineParser:
    parser = CommandLineParser(prog="python -m mvdlib.capture", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz (default: %(default)s)")
    parser.add_argument("--model", type=Path, default=None, help="MVDepthNet checkpoint (default: no network)")
    parser.add_argument("--scene-seed", type=int, default=SCENE_SEED)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Command line: compute the capture and write it with its provenance."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        check_seed(args.scene_seed, "--scene-seed")
        check_seed(args.seed, "--seed")
        if args.out.suffix != ".npz" or args.out.is_dir():
            raise ValueError(f"--out must be a .npz file path (the capture is a NumPy archive), got {str(args.out)!r}")
        check_writable_folder(args.out, "--out")
        model = None if args.model is None else load_pretrained(args.model)
    except (ValueError, TypeError, OSError, RuntimeError, KeyError) as err:  # a bad file given: one line, exit 2
        parser.fail(err)
    start = time.time()
    data = capture(args.scene_seed, model=model, seed=args.seed)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    data["provenance"].update(
        {
            "command": f"python -m mvdlib.capture --out {args.out}" + (f" --model {args.model}" if args.model else ""),
            "git_commit": commit,
            "model": str(args.model) if args.model else None,
            "model_sha256": hashlib.sha256(args.model.read_bytes()).hexdigest() if args.model else None,
            "seconds": round(time.time() - start, 1),
        }
    )
    path = save_capture(args.out, data)
    sidecar = {
        **data["provenance"],
        "file": path.name,
        "methods": sorted(data["depth"]),
        "gt_points": len(data["gt_points"]),
        "sha256": sha256_of(path),  # checked by load_capture
    }
    atomic_write(path.with_suffix(".json"), lambda f: f.write((json.dumps(sidecar, indent=1) + "\n").encode()))
    print(f"wrote {path} and its provenance {path.with_suffix('.json').name}: {sidecar}")


if __name__ == "__main__":
    main()
