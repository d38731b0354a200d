"""Bad input over the whole public surface of mvdlib (issue 17).

Every public function and class (each module's ``__all__``) is listed in ``TABLE`` with one
valid call. For each argument, bad values suited to it (wrong type, wrong shape, empty, NaN,
inf, zero or negative sizes, unknown options) replace the valid one, one at a time, and the
call must raise ``ValueError`` or ``TypeError`` whose message names the argument. An outcome
is *clean* (that), *obscure* (another exception, or a message that does not name the
argument) or *silent* (no exception). A bad value that is in fact valid for an argument is
exempt only with a reason (``EXEMPT``); a whole callable only with a reason (``NOT_CALLED``).

``python tests/test_bad_inputs.py`` prints the counts (run it with another ``PYTHONPATH`` to
count another checkout).
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import signal
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import mvdlib
import mvdlib.capture
import mvdlib.models.mvdepthnet

CORE = (
    "geometry",
    "cost_volume",
    "losses",
    "relative_losses",
    "smoothness",
    "inference",
    "metrics",
    "refine",
    "pointcloud",
    "conventions",
)
CALL_SECONDS = 20  # a bad value still running after this long was accepted (counted silent)


# ---- valid inputs ------------------------------------------------------------------------------


def _K() -> torch.Tensor:
    return torch.tensor([[20.0, 0.0, 15.5], [0.0, 20.0, 11.5], [0.0, 0.0, 1.0]])


def _T(tx: float = 0.1) -> torch.Tensor:
    T = torch.eye(4)
    T[0, 3] = tx
    return T


def _depth() -> torch.Tensor:
    return 2.0 + torch.rand(1, 1, 24, 32, generator=torch.Generator().manual_seed(0))


def _step_depth() -> torch.Tensor:
    """A depth edge: 2 m on the left half, 5 m on the right."""
    d = torch.full((1, 1, 24, 32), 2.0)
    d[..., 16:] = 5.0
    return d


def _image() -> torch.Tensor:
    return torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(1))


_SAMPLE: dict[str, Any] = {}


def _essential() -> np.ndarray:
    """E = [t]_x R of a sideways motion."""
    from mvdlib.poses import essential_matrix

    return essential_matrix(_T().double().numpy())


def _normalised() -> tuple[np.ndarray, np.ndarray]:
    """Normalised coordinates of three points 2-4 m in front of the reference camera, in both cameras of ``_T()``."""
    X = np.array([[0.1, -0.2, 2.0], [-0.3, 0.1, 3.0], [0.2, 0.3, 4.0]])
    Y = X + _T().double().numpy()[:3, 3]
    return X / X[:, 2:], Y / Y[:, 2:]


def _sample() -> dict[str, torch.Tensor]:
    if not _SAMPLE:
        from mvdlib.data.synthetic import SyntheticMultiViewDataset

        _SAMPLE.update(SyntheticMultiViewDataset("val", 1, 1, height=32, width=32, cache=False)[0])
    return {k: v.clone() for k, v in _SAMPLE.items()}


def _view() -> dict[str, Any]:
    return {"depth": _depth()[0, 0].numpy(), "K": _K().numpy(), "T_world_cam": _T(0.0).numpy()}


def _points() -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, (50, 3)) + [0, 0, 3]


def _net():
    from mvdlib.models.mvdepthnet import MVDepthNet

    return MVDepthNet(0.125, 8, input_size=(32, 32)).eval()


def _small_model():
    from mvdlib.diagnostics import SmallDepthNet

    return SmallDepthNet((4, 4))


# ---- the table ----------------------------------------------------------------------------------


@dataclass
class Entry:
    valid: Callable[[], dict[str, Any]]  # keyword arguments of one valid call
    extra_bad: dict[str, list[Any]] = field(default_factory=dict)  # bad values beyond the generated ones
    skip_args: tuple[str, ...] = ()  # arguments whose generated bad values do not apply (reason in EXEMPT)


def _scratch(name: str) -> str:
    """A path in a scratch folder of this test run (files written by valid calls go there)."""
    import tempfile

    folder = Path(tempfile.gettempdir()) / "mvdlib_bad_inputs"
    folder.mkdir(exist_ok=True)
    return str(folder / name)


def _rgb_uint8():
    return np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)


_CAPTURE: dict[str, Any] = {}


def _capture_views(n: int = 2) -> tuple[list[np.ndarray], np.ndarray]:
    """The first ``n`` images of the committed capture (consecutive views overlap) and its K."""
    if not _CAPTURE:
        _CAPTURE.update(mvdlib.capture.load_capture())
    return [im.copy() for im in _CAPTURE["rgb"][:n]], _CAPTURE["K"].copy()


def _features(i: int = 0):
    from mvdlib.poses import detect_features

    return detect_features(_capture_views(i + 1)[0][i])


def _mesh():
    import open3d as o3d

    return o3d.geometry.TriangleMesh.create_box(0.1, 0.1, 0.1)


def _line_points() -> tuple[torch.Tensor, torch.Tensor]:
    from mvdlib.explorers.losses import line_with_outliers

    return line_with_outliers(20)[:2]


def _rotation() -> np.ndarray:
    return mvdlib.geometry.axis_angle_to_matrix(torch.tensor([0.1, 0.2, 0.3])).numpy()


TABLE: dict[str, Entry] = {
    # mvdlib
    "mvdlib.seed_everything": Entry(lambda: {"seed": 0}),
    "mvdlib.default_device": Entry(lambda: {}),
    # runtime and conventions
    "mvdlib.runtime.seed_everything": Entry(lambda: {"seed": 0}),
    "mvdlib.runtime.default_device": Entry(lambda: {}),
    "mvdlib.conventions.valid_depth": Entry(lambda: {"depth": _depth()}),
    "mvdlib.conventions.as_mask": Entry(lambda: {"mask": torch.ones(1, 1, 24, 32), "shape": (1, 1, 24, 32)}),
    "mvdlib.conventions.check_seed": Entry(lambda: {"seed": 3}),
    "mvdlib.conventions.normalize_image": Entry(lambda: {"img": _image()}),
    # geometry
    "mvdlib.geometry.pixel_grid": Entry(lambda: {"h": 3, "w": 4}),
    "mvdlib.geometry.backproject": Entry(lambda: {"depth": _depth(), "K": _K()}),
    "mvdlib.geometry.project": Entry(lambda: {"points": torch.rand(1, 3, 10) + 1, "K": _K()}),
    "mvdlib.geometry.transform_points": Entry(lambda: {"T": _T(), "points": torch.rand(1, 3, 10)}),
    "mvdlib.geometry.relative_pose": Entry(lambda: {"T_world_ref": _T(), "T_world_src": _T(0.3)}),
    "mvdlib.geometry.invert_pose": Entry(lambda: {"T": _T()}),
    "mvdlib.geometry.scale_intrinsics": Entry(lambda: {"K": _K(), "sx": 0.5, "sy": 0.5}),
    "mvdlib.geometry.epipolar_line": Entry(lambda: {"K": _K(), "T_src_ref": _T(), "uv": torch.tensor([3.0, 4.0])}),
    "mvdlib.geometry.axis_angle_to_matrix": Entry(lambda: {"axis_angle": torch.tensor([0.1, 0.2, 0.3])}),
    "mvdlib.geometry.look_at": Entry(lambda: {"eye": np.zeros(3), "target": np.array([0.0, 0.0, 1.0])}),
    # cost volume
    "mvdlib.cost_volume.inverse_depth_samples": Entry(lambda: {"num": 4, "min_depth": 0.5, "max_depth": 50.0}),
    "mvdlib.cost_volume.plane_sweep_cost_volume": Entry(
        lambda: {
            "ref": _image(),
            "src": _image(),
            "K": _K(),
            "T_src_ref": _T(),
            "inv_depths": torch.linspace(0.1, 1, 4),
        }
    ),
    "mvdlib.cost_volume.multi_view_cost_volume": Entry(
        lambda: {
            "ref": _image(),
            "srcs": _image()[:, None],
            "K": _K(),
            "T_src_refs": _T()[None, None],
            "inv_depths": torch.linspace(0.1, 1, 4),
        }
    ),
    "mvdlib.cost_volume.warp_to_planes": Entry(
        lambda: {"src": _image(), "K": _K(), "T_src_ref": _T(), "inv_depths": torch.linspace(0.1, 1, 4)}
    ),
    "mvdlib.cost_volume.cost_volume_from_world_poses": Entry(
        lambda: {
            "ref": _image(),
            "srcs": _image()[:, None],
            "K": _K(),
            "T_world_ref": _T(0.0),
            "T_world_srcs": _T()[None],
            "inv_depths": torch.linspace(0.1, 1, 4),
        }
    ),
    "mvdlib.cost_volume.winner_take_all": Entry(
        lambda: {"cost": torch.rand(1, 4, 6, 8), "inv_depths": torch.linspace(0.1, 1, 4)}
    ),
    # losses
    **{
        f"mvdlib.losses.{n}": Entry(lambda: {"pred": _depth(), "target": _depth() + 0.1})
        for n in (
            "l1_loss",
            "l2_loss",
            "huber_loss",
            "berhu_loss",
            "scale_invariant_loss",
            "scale_invariant_loss_pairwise",
        )
    },
    "mvdlib.losses.huber_penalty": Entry(lambda: {"error": torch.randn(5), "delta": 1.0}),
    "mvdlib.losses.berhu_penalty": Entry(lambda: {"error": torch.randn(5), "c": 1.0}),
    "mvdlib.losses.valid_mask": Entry(lambda: {"target": _depth()}),
    "mvdlib.losses.downsample_target": Entry(
        lambda: {"target": _depth(), "valid": torch.ones(1, 1, 24, 32, dtype=torch.bool), "size": (12, 16)}
    ),
    "mvdlib.losses.multiscale_inverse_depth_l1": Entry(
        lambda: {"preds": [1 / _depth(), 1 / _depth()[..., ::2, ::2]], "target_inv_depth": 1 / _depth()}
    ),
    "mvdlib.smoothness.edge_aware_smoothness": Entry(lambda: {"disp": 1 / _depth(), "image": _image()}),
    "mvdlib.smoothness.second_order_smoothness": Entry(lambda: {"disp": 1 / _depth()}),
    # metrics
    "mvdlib.metrics.depth_metrics": Entry(lambda: {"pred": _depth(), "gt": _depth() + 0.1}),
    "mvdlib.metrics.hole_aware_metrics": Entry(lambda: {"pred": _depth(), "gt": _depth() + 0.1}),
    "mvdlib.metrics.depth_discontinuities": Entry(lambda: {"depth": _depth()}),
    "mvdlib.metrics.edge_band": Entry(lambda: {"gt_depth": _depth()}),
    "mvdlib.metrics.edge_region_errors": Entry(lambda: {"pred": _step_depth() + 0.1, "gt": _step_depth()}),
    "mvdlib.metrics.flying_pixels": Entry(lambda: {"pred": _depth(), "gt": _depth() + 0.1}),
    "mvdlib.metrics.point_to_cloud_distance": Entry(lambda: {"points": _points(), "cloud": _points()}),
    "mvdlib.metrics.precision_recall_fscore": Entry(
        lambda: {"pred_points": _points(), "gt_points": _points(), "threshold": 0.1}
    ),
    # refine
    "mvdlib.refine.box_filter": Entry(lambda: {"x": _image(), "radius": 1}),
    "mvdlib.refine.guided_filter": Entry(lambda: {"guide": _image(), "src": _depth()}),
    "mvdlib.refine.mean_field_crf": Entry(lambda: {"unary": torch.rand(1, 4, 24, 32), "image": _image()}),
    "mvdlib.refine.remove_depth_discontinuities": Entry(lambda: {"depth": _depth()}),
    # point cloud
    "mvdlib.pointcloud.depth_to_points": Entry(lambda: {"depth": _depth(), "K": _K(), "T_world_cam": _T()}),
    "mvdlib.pointcloud.consistency_counts": Entry(lambda: {"points": _points(), "views": [_view()]}),
    "mvdlib.pointcloud.fuse": Entry(lambda: {"views": [_view(), _view()], "min_views": 1}),
    "mvdlib.pointcloud.as_views": Entry(lambda: {"views": [_view()]}),
    "mvdlib.pointcloud.single_depth": Entry(lambda: {"depth": _depth()}),
    "mvdlib.pointcloud.image_colors": Entry(lambda: {"image": _image()[0], "h": 24, "w": 32}),
    "mvdlib.open3d_io.as_points": Entry(lambda: {"points": _points()}),
    "mvdlib.open3d_io.as_colors": Entry(lambda: {"colors": np.full((50, 3), 0.5), "n": 50}),
    "mvdlib.open3d_io.to_open3d": Entry(lambda: {"points": _points()}),
    "mvdlib.open3d_io.voxel_down_sample": Entry(lambda: {"points": _points(), "colors": None, "voxel_size": 0.1}),
    "mvdlib.open3d_io.remove_statistical_outliers": Entry(lambda: {"points": _points()}),
    "mvdlib.open3d_io.remove_radius_outliers": Entry(lambda: {"points": _points(), "radius": 0.5, "min_points": 2}),
    "mvdlib.viz.plotly_figure": Entry(
        lambda: {"clouds": {"a": (_points(), None)}, "max_points": 10, "eye": (0.0, -1.9, 0.7)}
    ),
    "mvdlib.open3d_io.save_ply": Entry(
        lambda: {"path": _scratch("x.ply"), "points": _points()},
        extra_bad={"path": [3, "/nonexistent-dir/x.ply", _scratch("")]},
        skip_args=("path",),
    ),
    # layers and networks
    "mvdlib.layers.ScratchBatchNorm2d": Entry(lambda: {"num_features": 4}),
    "mvdlib.layers.init_kaiming": Entry(lambda: {"module": torch.nn.Conv2d(2, 2, 3)}),
    "mvdlib.layers.unpool_zeros": Entry(lambda: {"x": _image()}),
    "mvdlib.layers.interleave": Entry(lambda: {"ee": _image(), "eo": _image(), "oe": _image(), "oo": _image()}),
    "mvdlib.layers.UpConv": Entry(lambda: {"in_channels": 4, "out_channels": 2}),
    "mvdlib.layers.FastUpConv": Entry(lambda: {"in_channels": 4, "out_channels": 2}),
    "mvdlib.layers.UpProjection": Entry(lambda: {"in_channels": 4, "out_channels": 2}),
    "mvdlib.layers.FastUpProjection": Entry(lambda: {"in_channels": 4, "out_channels": 2}),
    "mvdlib.layers.down_conv_layer": Entry(lambda: {"in_channels": 4, "out_channels": 2, "kernel_size": 3}),
    "mvdlib.layers.conv_layer": Entry(lambda: {"in_channels": 4, "out_channels": 2}),
    "mvdlib.layers.up_conv_layer": Entry(lambda: {"in_channels": 4, "out_channels": 2}),
    "mvdlib.layers.depth_layer": Entry(lambda: {"in_channels": 4}),
    "mvdlib.models.fcrn.FCRN": Entry(lambda: {"width": 0.125}),
    "mvdlib.models.fcrn.ResidualBlock": Entry(lambda: {"in_channels": 4, "out_channels": 8}),
    "mvdlib.models.fcrn.decoder_block": Entry(lambda: {"kind": "up_projection", "in_channels": 4, "out_channels": 2}),
    "mvdlib.models.eigen.EigenCoarseFine": Entry(lambda: {"height": 64, "width": 80, "hidden": 16}),
    "mvdlib.metrics.edge_errors": Entry(lambda: {"pred": _depth(), "gt": _depth() + 0.1}),
    "mvdlib.models.mvdepthnet.MVDepthNet": Entry(lambda: {"width": 0.125, "num_depths": 8, "input_size": (32, 32)}),
    "mvdlib.models.mvdepthnet.normalize_image": Entry(lambda: {"img": _image() * 255}),
    "mvdlib.models.checkpoint.read_checkpoint": Entry(
        lambda: {"path": str(mvdlib.models.mvdepthnet.DEFAULT_CHECKPOINT)}, extra_bad={"path": [_scratch("")]}
    ),
    "mvdlib.models.mvdepthnet.load_pretrained": Entry(lambda: {}),
    "mvdlib.inference.predict": Entry(
        lambda: {
            "model": _net(),
            "ref_rgb": _rgb_uint8(),
            "src_rgbs": _rgb_uint8()[None],
            "K": _K(),
            "T_world_ref": _T(0.0),
            "T_world_srcs": _T()[None],
        }
    ),
    # diagnostics
    "mvdlib.diagnostics.SmallDepthNet": Entry(lambda: {"channels": (4, 4)}),
    "mvdlib.diagnostics.activation_and_derivative": Entry(lambda: {"name": "relu", "z": torch.randn(5)}),
    "mvdlib.diagnostics.expected_derivative": Entry(lambda: {"name": "relu", "sigma": 1.0, "num": 100}),
    "mvdlib.diagnostics.make_activation": Entry(lambda: {"name": "relu"}),
    "mvdlib.diagnostics.plain_stack": Entry(lambda: {"widths": (4, 4, 4)}),
    "mvdlib.diagnostics.toy_depth_batch": Entry(lambda: {"batch_size": 2, "height": 16, "width": 16}),
    "mvdlib.diagnostics.activation_stats": Entry(lambda: {"model": _small_model(), "x": torch.rand(1, 3, 16, 16)}),
    "mvdlib.diagnostics.backward_rms": Entry(lambda: {"model": _small_model(), "x": torch.rand(1, 3, 16, 16)}),
    "mvdlib.diagnostics.dead_relu_fraction": Entry(lambda: {"model": _small_model(), "x": torch.rand(1, 3, 16, 16)}),
    "mvdlib.diagnostics.weight_gradient_norms": Entry(lambda: {"model": _small_model()}),
    "mvdlib.diagnostics.apply_init": Entry(lambda: {"model": _small_model(), "scheme": "kaiming_fan_in"}),
    "mvdlib.diagnostics.train_toy_depth": Entry(
        lambda: {"model": _small_model(), "steps": 1, "lr": 0.01, "batch_size": 2, "size": 16}
    ),
    # data
    "mvdlib.data.scene.SyntheticScene": Entry(lambda: {"seed": 0}),
    "mvdlib.data.synthetic.SyntheticMultiViewDataset": Entry(
        lambda: {"split": "val", "num_scenes": 1, "samples_per_scene": 1, "height": 32, "width": 32, "cache": False}
    ),
    "mvdlib.data.camera.default_intrinsics": Entry(lambda: {"height": 24, "width": 32}),
    "mvdlib.data.synthetic.warp_to_reference": Entry(lambda: {"sample": _sample()}),
    "mvdlib.data.real.motorcycle_disparity_to_depth": Entry(lambda: {"disparity": np.full((4, 5), 100.0)}),
    "mvdlib.data.real.load_stereo_pair": Entry(lambda: {"height": 32, "width": 64}),
    # training and evaluation
    "mvdlib.training.schedule.batch_indices": Entry(lambda: {"step": 0, "dataset_size": 8, "batch_size": 2, "seed": 0}),
    "mvdlib.data.augment.flip_horizontal": Entry(lambda: {"sample": _sample()}),
    "mvdlib.data.augment.augment": Entry(
        lambda: {"sample": _sample(), "jitter": True, "flip": True, "generator": torch.Generator().manual_seed(0)}
    ),
    "mvdlib.data.sample.check_sample": Entry(lambda: {"sample": _sample()}),
    "mvdlib.data.augment.jitter_photometric": Entry(lambda: {"sample": _sample(), "gain": 1.1, "offset": 3.0}),
    "mvdlib.data.sample.collate_samples": Entry(lambda: {"samples": [_sample()], "device": "cpu"}),
    "mvdlib.training.export.half_precision": Entry(lambda: {"state": {"w": torch.ones(3)}}),
    "mvdlib.training.export.thin_history": Entry(
        lambda: {"history": {"step": [1, 2], "train_loss": [1.0, 0.5]}, "points": 5}
    ),
    "mvdlib.training.config.config_from_dict": Entry(lambda: {"d": {"steps": 3}}),
    "mvdlib.training.config.TrainConfig": Entry(lambda: {"steps": 3}),
    "mvdlib.training.loop.cost_volume_for_batch": Entry(
        lambda: {"batch": {k: v[None] for k, v in _sample().items()}, "num_depths": 4}
    ),
    "mvdlib.capture.encode_inverse_depth": Entry(lambda: {"depth": _depth()[0, 0].numpy()}),
    "mvdlib.capture.decode_inverse_depth": Entry(lambda: {"code": np.full((4, 5), 1000, np.uint16)}),
    "mvdlib.capture.load_capture": Entry(
        lambda: {"path": str(mvdlib.capture.DEFAULT_CAPTURE)}, extra_bad={"path": [_scratch("")]}
    ),
    "mvdlib.training.evaluate.format_table": Entry(
        lambda: {"metrics": {"m": {n: 0.1 for n in mvdlib.metrics.METRIC_NAMES}}}
    ),
    # runtime (also exported by mvdlib itself)
    **{f"mvdlib.{m}budget": Entry(lambda: {}) for m in ("", "runtime.")},
    **{f"mvdlib.{m}chapter_settings": Entry(lambda: {"chapter": 6, "budget_name": "cpu"}) for m in ("", "runtime.")},
    # losses added after the first table
    "mvdlib.relative_losses.sample_pixel_pairs": Entry(lambda: {"height": 24, "width": 32, "num": 20, "seed": 0}),
    **{
        f"mvdlib.relative_losses.{n}": Entry(
            lambda: {
                "pred": _depth(),
                "target": _depth() + 0.1,
                "pairs": torch.tensor([[0, 5], [7, 100]]),
                "equal_tol": 0.02,
            }
        )
        for n in ("ordinal_loss", "ordinal_error")
    },
    "mvdlib.relative_losses.scale_shift_invariant_loss": Entry(
        lambda: {
            "pred": 1 / _depth(),
            "target": 1 / (_depth() + 0.1),
            "mask": torch.ones(1, 1, 24, 32, dtype=torch.bool),
        }
    ),
    # classical stereo
    "mvdlib.classical.aggregate_cost": Entry(lambda: {"cost": torch.rand(1, 4, 6, 8), "window": 3}),
    "mvdlib.classical.sgbm_depth": Entry(
        lambda: {
            "ref_rgb": _rgb_uint8(),
            "src_rgb": _rgb_uint8(),
            "focal": 20.0,
            "baseline": 0.1,
            "min_depth": 0.5,
            "max_depth": 50.0,
            "block_size": 5,
        }
    ),
    # poses from images
    "mvdlib.poses.detect_features": Entry(lambda: {"image": _capture_views(1)[0][0]}),
    "mvdlib.poses.match_features": Entry(lambda: {"a": _features(0), "b": _features(1), "ratio": 0.75}),
    "mvdlib.poses.estimate_relative_pose": Entry(
        lambda: {"ref": _features(0), "src": _features(1), "K": _capture_views(1)[1], "ratio": 0.75}
    ),
    "mvdlib.poses.chain_poses": Entry(
        lambda: {"images": _capture_views(3)[0], "K": _capture_views(1)[1], "first_baseline": 0.1}
    ),
    "mvdlib.poses.rotation_error_deg": Entry(lambda: {"R_est": _rotation(), "R_true": np.eye(3)}),
    "mvdlib.poses.translation_direction_error_deg": Entry(
        lambda: {"t_est": np.array([1.0, 0.0, 0.1]), "t_true": np.array([1.0, 0.0, 0.0])}
    ),
    "mvdlib.poses.essential_matrix": Entry(lambda: {"T_src_ref": _T().double().numpy()}),
    "mvdlib.poses.decompose_essential": Entry(lambda: {"E": _essential()}),
    "mvdlib.poses.triangulate_depths": Entry(
        lambda: {"x_ref": _normalised()[0], "x_src": _normalised()[1], "T_src_ref": _T().double().numpy()}
    ),
    "mvdlib.poses.cheirality_counts": Entry(
        lambda: {"x_ref": _normalised()[0], "x_src": _normalised()[1], "E": _essential()}
    ),
    # photometric error (self-supervised depth)
    **{
        f"mvdlib.photometric.{n}": Entry(
            lambda: {
                "ref": _image()[0],
                "src": _image()[0].flip(-1),
                "K": _K(),
                "T_src_ref": _T(),
                "depth": _depth()[0, 0],
            }
        )
        for n in ("photometric_error", "photometric_loss")
    },
    "mvdlib.photometric.photometric_error_vs_depth": Entry(
        lambda: {
            "ref": _image()[0],
            "src": _image()[0].flip(-1),
            "K": _K(),
            "T_src_ref": _T(),
            "depths": torch.tensor([1.0, 2.0]),
        }
    ),
    # sub-plane refinement
    "mvdlib.subplane.parabola_refine": Entry(
        lambda: {"cost": torch.rand(1, 4, 6, 8), "inv_depths": torch.linspace(0.1, 1, 4)}
    ),
    "mvdlib.subplane.soft_argmin": Entry(
        lambda: {"cost": torch.rand(1, 4, 6, 8), "inv_depths": torch.linspace(0.1, 1, 4), "temperature": 0.5}
    ),
    # TSDF fusion
    "mvdlib.tsdf.tsdf_fuse": Entry(
        lambda: {"views": [_view(), _view()], "voxel_size": 0.05, "trunc_voxels": 4.0, "weight_threshold": 0.0}
    ),
    "mvdlib.open3d_io.save_mesh_ply": Entry(lambda: {"path": _scratch("mesh.ply"), "mesh": _mesh()}),
    "mvdlib.viz.plotly_mesh_figure": Entry(
        lambda: {"meshes": {"box": _mesh()}, "max_triangles": 100, "eye": (0.0, -1.9, 0.7)}
    ),
    # models, notebook, resources, viz
    "mvdlib.inference.fold_batchnorm": Entry(lambda: {"model": _net()}),
    "mvdlib.inference.inference_model": Entry(lambda: {"model": _net()}),
    "mvdlib.notebook.glue": Entry(lambda: {"name": "bad_inputs_value", "value": 1.0, "display": False}),
    "mvdlib.notebook.plotly_bundle": Entry(lambda: {"fig": __import__("plotly.graph_objects").graph_objects.Figure()}),
    "mvdlib.notebook.widget_bundle": Entry(lambda: {"widget": __import__("ipywidgets").HTML("x")}),
    "mvdlib.resources.data_dir": Entry(lambda: {}),
    "mvdlib.resources.data_path": Entry(lambda: {"name": "ten_views.npz"}),
    "mvdlib.viz.plotly_bundle": Entry(lambda: {"fig": __import__("plotly.graph_objects").graph_objects.Figure()}),
    # the explorers' numeric helpers (the explorer builders are NOT_CALLED)
    "mvdlib.explorers.core.subplot_axes": Entry(lambda: {"k": 2}),
    "mvdlib.explorers.losses.loss_penalty": Entry(
        lambda: {"name": "Huber", "error": torch.linspace(-2, 2, 5), "delta": 1.0}
    ),
    "mvdlib.explorers.losses.line_with_outliers": Entry(lambda: {"n": 20, "outlier_fraction": 0.2, "seed": 0}),
    "mvdlib.explorers.losses.fit_line": Entry(
        lambda: dict(zip(("x", "y"), _line_points(), strict=True)) | {"name": "Huber", "delta": 1.0, "iterations": 10}
    ),
    "mvdlib.explorers.losses.loss_curves": Entry(lambda: {"errors": np.linspace(-2, 2, 5), "delta": 1.0, "c": 1.0}),
    "mvdlib.explorers.losses.scale_invariant_curve": Entry(lambda: {"scales": np.array([0.5, 1.0, 2.0]), "lam": 0.5}),
    "mvdlib.explorers.cost_slices.png_uri": Entry(lambda: {"rgb": _rgb_uint8()}),
    "mvdlib.explorers.warp.warp_error_map": Entry(lambda: {"sample": _sample(), "view": 0, "depth_scale": 1.0}),
}


# ---- issue 22: the cases a second, wider outside probe found ------------------------------------


def _junk_file(name: str, data: bytes) -> str:
    path = Path(_scratch(name))
    path.write_bytes(data)
    return str(path)


def _npz_without_keys() -> str:
    path = _scratch("no_keys.npz")
    np.savez(path, a=np.ones(3))
    return path


def _batch(depth_scale: float = 1.0) -> dict[str, torch.Tensor]:
    batch = {k: v[None] for k, v in _sample().items()}
    batch["ref_depth"] = batch["ref_depth"] * depth_scale
    return batch


def _extend(qual: str, **bad: list[Any]) -> None:
    for arg, values in bad.items():
        TABLE[qual].extra_bad.setdefault(arg, []).extend(values)


_extend("mvdlib.cost_volume.inverse_depth_samples", min_depth=[1e-39], max_depth=[1e300, 0.5 + 1e-9])
_extend("mvdlib.cost_volume.plane_sweep_cost_volume", ref=[_image()[:, :0]], src=[_image()[:, :0]])
_extend("mvdlib.losses.downsample_target", target=[-_depth()], size=[(48, 64)])
_extend("mvdlib.metrics.flying_pixels", pred=[-_depth()])
_extend("mvdlib.geometry.backproject", depth=[_depth().to(torch.complex64)])
_extend("mvdlib.diagnostics.expected_derivative", num=[1])
_extend("mvdlib.capture.encode_inverse_depth", depth=[-np.ones((4, 5), np.float32)])
_extend("mvdlib.capture.load_capture", path=[_junk_file("junk.npz", bytes(range(256)) * 4), _npz_without_keys()])
TABLE["mvdlib.losses.scale_invariant_loss"] = Entry(
    lambda: {"pred": _depth(), "target": _depth() + 0.1, "lam": 0.5}, extra_bad={"lam": ["a", None, 1.5]}
)
TABLE["mvdlib.pointcloud.depth_to_points"] = Entry(
    lambda: {"depth": _depth(), "K": _K(), "T_world_cam": _T(), "image": _image()[0]},
    extra_bad={"image": [torch.ones(24, 32, 3, dtype=torch.bool), torch.ones(3, 24, 32, dtype=torch.complex64)]},
)
TABLE["mvdlib.training.loop.batch_loss"] = Entry(
    lambda: {"model": _net().eval(), "batch": _batch(), "num_depths": 8, "smoothness_weight": 0.1},
    extra_bad={"batch": [_batch(-1.0)], "smoothness_weight": [-1.0, "0.1"]},
)


def _net_in_part_training() -> torch.nn.Module:
    """A network in eval mode but for one BatchNorm (predict and folding would use the batch's statistics)."""
    net = _net()
    net.conv2[1].train()
    return net


def _folder(name: str) -> str:
    path = Path(_scratch(name))
    path.mkdir(exist_ok=True)
    return str(path)


_extend("mvdlib.inference.predict", model=[_net_in_part_training()])
_extend("mvdlib.inference.fold_batchnorm", model=[_net_in_part_training()])
_extend("mvdlib.inference.inference_model", model=[_net_in_part_training()])
TABLE["mvdlib.training.config.TrainConfig"] = Entry(
    lambda: {"steps": 3, "model_width": 0.25, "lr_milestones": (2,)},
    extra_bad={"model_width": [0.001, 2.0], "lr_milestones": [(5, 3), (3, 3)]},
)
TABLE["mvdlib.runtime.native_bf16"] = Entry(lambda: {"device": "cpu"}, extra_bad={"device": ["nonsense", "cpu:x"]})
TABLE["mvdlib.training.preflight.check_out"] = Entry(
    lambda: {"out": _scratch("new_run.pt"), "resume": False},
    extra_bad={"out": [_folder("a_folder.pt"), _junk_file("junk.pt", b"not a checkpoint")]},
)


# ---- issue 22, round 3: the cases the attacker found after the second round -----------------------


def _net_with_nan_weight() -> torch.nn.Module:
    """A network one of whose weights is NaN: every depth it predicts would be NaN."""
    net = _net()
    with torch.no_grad():
        net.conv2[0].weight.view(-1)[0] = math.nan
    return net


class _WeightlessNet(torch.nn.Module):
    """MVDepthNet's interface without a parameter (predict takes the device and dtype from the weights)."""

    num_depths = 8
    input_size = (32, 32)

    def forward(self, ref_image, cost_volume):
        return [torch.ones_like(cost_volume[:, :1])]


def _net_deepcopy_refuses() -> torch.nn.Module:
    """A network holding a lock: copy.deepcopy cannot copy it, so no folded copy can be made."""
    import threading

    net = _net()
    net.lock = threading.Lock()
    return net


_extend("mvdlib.inference.predict", model=[_net_with_nan_weight(), _WeightlessNet().eval()])
_extend("mvdlib.inference.fold_batchnorm", model=[_net_deepcopy_refuses()])
_extend("mvdlib.inference.inference_model", model=[_net_deepcopy_refuses()])
TABLE["mvdlib.training.config.TrainConfig"].valid = lambda: {
    "steps": 3,
    "model_width": 0.25,
    "lr_milestones": (2,),
    "num_sources": 2,
    "train_scenes": 3,
    "val_scenes": 1,
    "test_scenes": 1,
}
_extend(
    "mvdlib.training.config.TrainConfig",
    num_sources=[10**5],
    train_scenes=[10**8],
    val_scenes=[10**6 + 1],
    test_scenes=[10**7],
)
_extend("mvdlib.training.preflight.check_out", out=[_scratch("run.txt"), _scratch("run.json")])
TABLE["mvdlib.notebook.show_with_widget"] = Entry(
    lambda: {"widget": __import__("ipywidgets").HTML("x"), "fallback": {"text/html": "<b>x</b>"}},
    extra_bad={"widget": ["not a widget"], "fallback": [{"html": "x"}, {"text/html": None}, {3: "x"}]},
)


# Generated bad values that are valid for an argument, with the reason.
EXEMPT: dict[tuple[str, str, str], str] = {
    ("mvdlib.training.config.TrainConfig", "lr_milestones", "empty"): "no milestones: a constant learning rate",
    **{
        ("mvdlib.conventions.valid_depth", "depth", label): "a predicate: it marks NaN, empty and any shape"
        for label in ("nan", "empty", "flat")
    },
    **{
        (f, a, "nan"): "NaN depth marks an invalid pixel (DESIGN.md, Depth)"
        for f, a in [
            ("mvdlib.geometry.backproject", "depth"),
            ("mvdlib.pointcloud.depth_to_points", "depth"),
            ("mvdlib.pointcloud.DepthView", "depth"),
            ("mvdlib.pointcloud.single_depth", "depth"),
            ("mvdlib.metrics.depth_discontinuities", "depth"),
            ("mvdlib.metrics.edge_band", "gt_depth"),
            ("mvdlib.refine.remove_depth_discontinuities", "depth"),
            ("mvdlib.capture.encode_inverse_depth", "depth"),
        ]
    },
    **{
        (f"mvdlib.{f}", a, "nan"): "NaN marks an invalid target pixel, masked out like 0 (DESIGN.md, Depth)"
        for f, a in [
            ("losses.l1_loss", "target"),
            ("losses.l2_loss", "target"),
            ("losses.huber_loss", "target"),
            ("losses.berhu_loss", "target"),
            ("losses.scale_invariant_loss", "target"),
            ("losses.scale_invariant_loss_pairwise", "target"),
            ("relative_losses.ordinal_loss", "target"),
            ("relative_losses.ordinal_error", "target"),
            ("relative_losses.scale_shift_invariant_loss", "target"),
            ("losses.valid_mask", "target"),
            ("losses.multiscale_inverse_depth_l1", "target_inv_depth"),
            ("losses.downsample_target", "target"),
            ("metrics.depth_metrics", "gt"),
            ("metrics.edge_region_errors", "gt"),
            ("metrics.flying_pixels", "gt"),
            ("metrics.edge_errors", "gt"),
        ]
    },
    **{
        (f, a, "nan"): "NaN marks a pixel without a valid prediction (DESIGN.md, Depth)"
        for f, a in [
            ("mvdlib.metrics.flying_pixels", "pred"),
            ("mvdlib.metrics.edge_region_errors", "pred"),
            ("mvdlib.metrics.edge_errors", "pred"),
        ]
    },
    ("mvdlib.data.real.motorcycle_disparity_to_depth", "disparity", "nan"): "non-finite disparity means unknown",
    ("mvdlib.layers.unpool_zeros", "x", "nan"): "a layer passes NaN through, like every torch layer",
    ("mvdlib.layers.unpool_zeros", "x", "empty"): "a layer maps an empty tensor to an empty one, like torch",
    **{
        ("mvdlib.layers.interleave", a, "nan"): "a layer passes NaN through, like every torch layer"
        for a in ("ee", "eo", "oe", "oo")
    },
    ("mvdlib.cost_volume.winner_take_all", "cost", "empty"): "an image of width 0 gives a map of width 0",
    ("mvdlib.subplane.parabola_refine", "cost", "empty"): "an image of width 0 gives a map of width 0",
    ("mvdlib.subplane.soft_argmin", "cost", "empty"): "an image of width 0 gives a map of width 0",
    (
        "mvdlib.photometric.photometric_error",
        "depth",
        "nan",
    ): "a NaN depth is an invalid pixel (book/conventions.md): valid is False there",
    ("mvdlib.losses.huber_penalty", "error", "nan"): "a penalty is elementwise: NaN in, NaN out, like torch",
    ("mvdlib.losses.berhu_penalty", "error", "nan"): "a penalty is elementwise: NaN in, NaN out, like torch",
    ("mvdlib.diagnostics.activation_and_derivative", "z", "nan"): "elementwise: NaN in, NaN out, like torch",
    ("mvdlib.metrics.hole_aware_metrics", "pred", "nan"): "0 or non-finite marks a pixel without an answer",
    ("mvdlib.explorers.losses.loss_penalty", "error", "nan"): "a penalty is elementwise: NaN in, NaN out, like torch",
    ("mvdlib.explorers.losses.loss_penalty", "error", "flat"): "residuals of any shape",
    ("mvdlib.explorers.losses.loss_penalty", "error", "empty"): "residuals of any shape, also none",
    ("mvdlib.notebook.glue", "name", "unknown"): "any non-empty string is a valid glue key",
    ("mvdlib.resources.data_path", "name", "unknown"): "the file may not exist yet (a command writes it)",
    **{
        ("mvdlib.notebook.glue", "value", label): "any displayable object is a valid value"
        for label in ("nan", "inf", "text")
    },
    ("mvdlib.losses.huber_penalty", "error", "flat"): "residuals of any shape",
    ("mvdlib.losses.berhu_penalty", "error", "flat"): "residuals of any shape",
    ("mvdlib.losses.huber_penalty", "error", "empty"): "residuals of any shape, also none",
    ("mvdlib.losses.berhu_penalty", "error", "empty"): "residuals of any shape, also none",
    ("mvdlib.diagnostics.activation_and_derivative", "z", "flat"): "values of any shape",
    ("mvdlib.diagnostics.activation_and_derivative", "z", "empty"): "values of any shape, also none",
    ("mvdlib.geometry.transform_points", "points", "empty"): "no points is a valid (empty) set",
    ("mvdlib.geometry.project", "points", "empty"): "no points is a valid (empty) set",
    ("mvdlib.geometry.epipolar_line", "uv", "empty"): "no pixels is a valid (empty) set",
    ("mvdlib.geometry.invert_pose", "T", "empty"): "an empty batch of poses is valid (issue 17)",
    ("mvdlib.geometry.relative_pose", "T_world_ref", "empty"): "an empty batch of poses is valid (issue 17)",
    ("mvdlib.geometry.relative_pose", "T_world_src", "empty"): "an empty batch of poses is valid (issue 17)",
    ("mvdlib.geometry.axis_angle_to_matrix", "axis_angle", "empty"): "an empty batch of rotations is valid",
    **{
        (f"mvdlib.{f}", a, "empty"): "an empty cloud is valid (N = 0)"
        for f, a in [
            ("pointcloud.consistency_counts", "points"),
            ("open3d_io.as_points", "points"),
            ("open3d_io.to_open3d", "points"),
            ("open3d_io.voxel_down_sample", "points"),
            ("open3d_io.remove_statistical_outliers", "points"),
            ("open3d_io.remove_radius_outliers", "points"),
            ("metrics.point_to_cloud_distance", "points"),
            ("metrics.precision_recall_fscore", "pred_points"),
            ("open3d_io.save_ply", "points"),
        ]
    },
    ("mvdlib.training.export.half_precision", "state", "empty"): "an empty state dict is a valid state dict",
    ("mvdlib.training.config.config_from_dict", "d", "empty"): "no fields: the default configuration",
    ("mvdlib.training.evaluate.format_table", "metrics", "empty"): "a table with no rows is valid",
    ("mvdlib.viz.plotly_figure", "clouds", "empty"): "a figure with no clouds is valid",
}

# Public callables the bad-input calls do not reach, and why.
NOT_CALLED: dict[str, str] = {
    **{
        f"mvdlib.models.checkpoint.{n}": "a step of load_pretrained (in the table), after read_checkpoint"
        for n in ("checked_config", "checkpoint_state", "load_weights")
    },
    "mvdlib.training.loop.train": "runs training; TrainConfig (in the table) validates every setting it takes",
    "mvdlib.train.main": "a CLI: argparse and TrainConfig; tests/test_training_cli.py feeds it bad flags",
    "mvdlib.evaluate.main": "a CLI: argparse; tests/test_evaluate.py checks --export",
    "mvdlib.training.evaluate.main": "a CLI: argparse; tests/test_evaluate.py checks --export",
    "mvdlib.training.schedule.build_datasets": "takes a TrainConfig, which validates itself (in the table)",
    "mvdlib.training.export.save_atomic": "any object and any path: torch.save decides what it can write",
    "mvdlib.training.export.save_text_atomic": "any text and any path: the file system decides",
    "mvdlib.training.export.export_checkpoint": "takes a training checkpoint dict written by train()",
    "mvdlib.training.evaluate.evaluate_checkpoint_dict": "evaluates a split (minutes); test_evaluate.py covers it",
    "mvdlib.training.evaluate.evaluate_model": "evaluates a whole split; checks model and dataset sizes at the door",
    "mvdlib.training.evaluate.evaluate_real_pair": "takes only a model",
    "mvdlib.training.evaluate.compare_real_pair": "takes only a model (and a window size)",
    "mvdlib.training.evaluate.predict_batch": "a model and a batch; cost_volume_for_batch (in the table) checks it",
    "mvdlib.capture.capture": "renders fifty views (minutes)",
    "mvdlib.capture.save_capture": "writes a capture dict made by capture(); checks its keys",
    "mvdlib.capture.sweep_cameras": "needs a SyntheticScene; checks its counts at the door",
    "mvdlib.training.single_view.fit_depth_network": "trains a network (seconds to minutes)",
    "mvdlib.training.single_view.train_two_stage": "trains a network (seconds to minutes)",
    "mvdlib.data.single_view.load_single_views": "renders a data set (seconds)",
    "mvdlib.data.sample.Sample": "a TypedDict: the keys and types of a sample (check_sample, in the table, checks one)",
    "mvdlib.data.render.render_view": "needs a SyntheticScene; K and pose checked by _camera (tests/data)",
    "mvdlib.data.trajectory.sample_trajectory": "needs a SyntheticScene; checks scene, rng, num_sources, depth_range "
    "at the door; tests/data/test_trajectory.py feeds it bad arguments",
    "mvdlib.data.textures.sample_texture": "internal to rendering, arrays from TextureAtlas",
    "mvdlib.data.textures.TextureAtlas": "a dataclass built by texture_bank()",
    "mvdlib.data.scene.Surface": "a dataclass built by SyntheticScene",
    "mvdlib.data.textures.texture_bank": "takes no argument",
    "mvdlib.data.synthetic.default_cache_dir": "takes no argument",
    "mvdlib.data.real.motorcycle_intrinsics": "takes no argument",
    "mvdlib.pointcloud.DepthView": "a NamedTuple container; its fields are validated where it is used (fuse, ...)",
    "mvdlib.viz.show_depth": "draws on a matplotlib Axes; matplotlib checks its arguments",
    "mvdlib.viz.show_depth_row": "draws on matplotlib Axes like show_depth; tests/test_viz.py feeds it bad maps",
    "mvdlib.viz.show_error": "draws on a matplotlib Axes; refuses maps of two shapes (tests/test_viz.py)",
    "mvdlib.viz.distinct_line_styles": "line styles for curves that coincide; tests/test_viz.py feeds it duplicate, "
    "too many and uncoloured names",
    "mvdlib.notebook.show_plotly": "displays a figure; plotly checks its argument",
    "mvdlib.notebook.in_colab": "takes no argument",
    "mvdlib.widgets": "explorers (figures and ipywidgets) built on the validated functions above",
    "mvdlib.classroom.check": "the exercise machinery: call() runs any student function, is_stub() takes any "
    "object, exercise() is a decorator; tests/classroom/test_check.py covers them",
    "mvdlib.check": "the old path of mvdlib.classroom.check: the same module object (a sys.modules alias)",
    **{
        f"mvdlib.classroom.check.ch{c:02d}": "student-facing checks never raise: any answer gives a Result "
        "(test_every_check_turns_a_bad_answer_into_a_result below)"
        for c in range(1, 14)
    },
    "mvdlib.classroom.grade": "instructor tooling that runs student notebooks from a folder (CLI); "
    "tests/classroom/test_grader_trust.py",
    **{
        f"mvdlib.classroom.{m}": "the grader's parts (answers, assignment files, export, the isolated checker): "
        "tests/classroom/test_grader_trust.py grades a class of honest, broken and forged notebooks through them"
        for m in ("answers", "assignment", "export", "isolated", "runner")
    },
    "mvdlib.inference.DegenerateGeometryWarning": "a warning class, raised by predict (tests/test_inference.py)",
    "mvdlib.models.checkpoint.UnverifiedCheckpointWarning": "a warning class, raised by read_checkpoint "
    "(tests/test_checkpoint_unverified.py)",
    **{
        f"mvdlib.models.checkpoint.{n}": "the in-file digest written by save_atomic and checked by read_checkpoint "
        "(tests/models/test_checkpoint.py feeds them damaged and forged checkpoints)"
        for n in ("weights_digest", "with_weights_digest")
    },
    "mvdlib.training.preflight": "the checks before a training run's first step; tests/test_cli_errors.py runs "
    "the CLI with runs that cannot fit and weights that do not fit",
    "mvdlib.classroom.student": "instructor tooling that writes the student edition from notebook files (CLI)",
    "mvdlib.data.render.render_views": "needs a SyntheticScene; it checks scene, noise_std, rng, K and poses",
    "mvdlib.explorers.Explorer": "an explorer container of Params and a draw function; tests/test_explorers.py",
    "mvdlib.explorers.Param": "a dataclass container (name, values, default); tests/test_explorers.py",
    "mvdlib.explorers.View": "a dataclass container of plotly traces and a layout",
    "mvdlib.explorers.core.Explorer": "an explorer container of Params and a draw function; tests/test_explorers.py",
    "mvdlib.explorers.core.Param": "a dataclass container (name, values, default); tests/test_explorers.py",
    "mvdlib.explorers.core.View": "a dataclass container of plotly traces and a layout",
    **{
        f"mvdlib.explorers.{q}": "builds a whole explorer figure (all frames, seconds) on the validated functions"
        for q in (
            "activations.activation_explorer",
            "cost_slices.cost_slice_explorer",
            "cost_slices.cost_explorer_data",
            "fusion.fusion_explorer",
            "losses.loss_explorer",
            "scales.mvdepthnet_scales_explorer",
            "warp.warp_explorer",
        )
    },
    "mvdlib.explorers.cost_slices.warped_rgb": "takes the dict that cost_explorer_data returns",
    "mvdlib.poses.Features": "a NamedTuple container made by detect_features",
    "mvdlib.poses.RelativePose": "a NamedTuple container made by estimate_relative_pose",
    "mvdlib.tsdf.TSDFFusion": "a NamedTuple container made by tsdf_fuse",
    "mvdlib.training.schedule.StepBatches": "a sampler over a dataset for a TrainConfig (in the table)",
    "mvdlib.training.schedule.step_batches": "takes a dataset and a TrainConfig (validated, in the table)",
}


# ---- generated bad values -----------------------------------------------------------------------


def _bad_values(value: Any) -> list[tuple[str, Any]]:
    """Bad replacements suited to a valid value, labelled."""
    if isinstance(value, bool):
        return [("text", "yes")]
    if isinstance(value, int):
        return [("negative", -1), ("fraction", 2.5), ("text", "2")]
    if isinstance(value, float):
        return [("nan", math.nan), ("inf", math.inf), ("text", "x")]
    if isinstance(value, torch.Tensor):
        out: list[tuple[str, Any]] = [("text", "x"), ("empty", value[..., :0])]
        out.append(("flat", value.reshape(-1)[:5] if value.dim() > 1 else value[None, None, None]))
        if value.is_floating_point():
            out.append(("nan", torch.full_like(value, math.nan)))
        return out
    if isinstance(value, np.ndarray):
        out = [("text", "x"), ("empty", value[..., :0])]
        out.append(("flat", value.reshape(-1)[:5] if value.ndim > 1 else value[None, None, None]))
        if np.issubdtype(value.dtype, np.floating):
            out.append(("nan", np.full_like(value, np.nan)))
        return out
    if isinstance(value, str):
        return [("unknown", "no-such-option"), ("number", 3)]
    if isinstance(value, dict):
        return [("empty", {}), ("text", "x")]
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple such as poses.Features
        return [("empty", ()), ("text", "x")]
    if isinstance(value, (list, tuple)):
        return [("empty", type(value)()), ("text", "x")]
    if isinstance(value, torch.nn.Module):
        return [("text", "not a model")]
    return []


class _Timeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Timeout


def _outcome(fn: Callable, kwargs: dict[str, Any], arg: str) -> tuple[str, str]:
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(CALL_SECONDS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(**kwargs)
    except (ValueError, TypeError, FileNotFoundError) as err:  # a missing file is named by FileNotFoundError
        named = arg.lower() in str(err).lower() or arg.lower().replace("_", " ") in str(err).lower()
        return ("clean" if named else "obscure"), f"{type(err).__name__}: {str(err)[:100]}"
    except _Timeout:
        return "silent", f"still running after {CALL_SECONDS} s"
    except Exception as err:  # noqa: BLE001 -- classifying every failure is the point
        return "obscure", f"{type(err).__name__}: {str(err)[:100]}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return "silent", "returned"


def public_surface() -> dict[str, Callable]:
    """Every public function and class of mvdlib, by qualified name, from the modules' ``__all__``."""
    names = {}
    for info in [None, *pkgutil.walk_packages(mvdlib.__path__, "mvdlib.")]:
        modname = "mvdlib" if info is None else info.name
        if modname.rsplit(".", 1)[-1].startswith("_"):
            continue
        mod = importlib.import_module(modname)
        for n in getattr(mod, "__all__", []):
            obj = getattr(mod, n)
            if callable(obj) and not isinstance(obj, type(mvdlib)):
                names[f"{modname}.{n}"] = obj
    return names


def modules_without_all() -> list[str]:
    out = []
    for info in pkgutil.walk_packages(mvdlib.__path__, "mvdlib."):
        if not info.name.rsplit(".", 1)[-1].startswith("_") and not hasattr(
            importlib.import_module(info.name), "__all__"
        ):
            out.append(info.name)
    return out


def run_all() -> list[tuple[str, str, str, str, str]]:
    """``(callable, argument, bad value, outcome, detail)`` for every bad call of the table."""
    surface = public_surface()
    rows = []
    torch.manual_seed(0)
    for qual, entry in TABLE.items():
        fn = surface.get(qual) or _resolve(qual)
        valid = entry.valid()
        for arg in valid:
            if arg in entry.skip_args:
                continue
            for label, bad in _bad_values(valid[arg]) + [
                (f"extra{i}", v) for i, v in enumerate(entry.extra_bad.get(arg, []))
            ]:
                if (qual, arg, label) in EXEMPT:
                    continue
                kwargs = entry.valid()
                kwargs[arg] = bad
                outcome, detail = _outcome(fn, kwargs, arg)
                rows.append((qual, arg, label, outcome, detail))
    return rows


def _resolve(qual: str) -> Callable:
    mod, name = qual.rsplit(".", 1)
    return getattr(importlib.import_module(mod), name)


def _is_core(qual: str) -> bool:
    return qual.split(".")[1] in CORE


def counts(rows) -> dict[str, Counter]:
    return {
        "core": Counter(r[3] for r in rows if _is_core(r[0])),
        "rest": Counter(r[3] for r in rows if not _is_core(r[0])),
    }


# ---- the tests ----------------------------------------------------------------------------------


def test_every_module_declares_its_public_names():
    assert modules_without_all() == []


def test_every_public_callable_is_in_the_table_or_exempt_with_a_reason():
    listed = set(TABLE) | set(NOT_CALLED)
    missing = [q for q in public_surface() if q not in listed and q.rsplit(".", 1)[0] not in NOT_CALLED]
    assert missing == []


def test_every_valid_call_of_the_table_succeeds():
    """Else the bad-input calls would test nothing: each differs from a working call in one argument."""
    failed = {}
    for qual, entry in TABLE.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _resolve(qual)(**entry.valid())
        except Exception as err:  # noqa: BLE001 -- report every failing valid call at once
            failed[qual] = f"{type(err).__name__}: {err}"
    assert failed == {}


def test_every_check_turns_a_bad_answer_into_a_result(capsys, monkeypatch):
    """The exercise checks are exempt above because they never raise: a bad answer is a Result."""
    from mvdlib.classroom.check import REGISTRY, Result

    monkeypatch.delenv("MVDLIB_CHECK_STRICT", raising=False)
    monkeypatch.delenv("MVDLIB_CHECK_LOG", raising=False)

    def raises(*args, **kwargs):
        raise RuntimeError("boom")

    for key, check in REGISTRY.items():
        for answer in ("not a function", raises, lambda *a, **k: "x"):
            result = check(answer)
            assert isinstance(result, Result) and not result.passed, (key, answer, result)
    capsys.readouterr()


@pytest.fixture(scope="module")
def rows():
    return run_all()


def test_bad_input_in_the_core_modules_is_always_a_clear_error(rows):
    bad = [r for r in rows if _is_core(r[0]) and r[3] != "clean"]
    assert bad == []


def test_bad_input_elsewhere_is_almost_always_a_clear_error(rows):
    rest = [r for r in rows if not _is_core(r[0])]
    c = Counter(r[3] for r in rest)
    assert c["obscure"] <= 0.05 * len(rest), [r for r in rest if r[3] == "obscure"]
    assert c["silent"] <= 0.05 * len(rest), [r for r in rest if r[3] == "silent"]


if __name__ == "__main__":
    result = run_all()
    for part, c in counts(result).items():
        total = sum(c.values())
        print(
            f"{part}: {total} calls, "
            + ", ".join(f"{k} {c[k]} ({100 * c[k] / max(total, 1):.0f} %)" for k in ("clean", "obscure", "silent"))
        )
    for r in result:
        if r[3] != "clean":
            print(" ", *r)
