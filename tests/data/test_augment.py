"""Tests of mvdlib.data.augment: the flip keeps every view's geometry, jitter is shared and clipped,
and the random augmentation draws the same numbers whatever its switches."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mvdlib.data.augment import augment, flip_horizontal, jitter_photometric
from mvdlib.data.sample import collate_samples
from mvdlib.data.synthetic import SyntheticMultiViewDataset
from mvdlib.geometry import axis_angle_to_matrix, project, transform_points


def _rig(seed: int):
    g = torch.Generator().manual_seed(seed)
    K = torch.tensor([[50.0, 0.7, 30.2], [0.0, 48.0, 20.9], [0.0, 0.0, 1.0]])
    poses = torch.eye(4).repeat(3, 1, 1)
    poses[:, :3, :3] = axis_angle_to_matrix(0.3 * torch.randn(3, 3, generator=g))
    poses[:, :3, 3] = torch.randn(3, 3, generator=g)
    return K, poses


def _sample(h: int = 2, w: int = 3) -> dict[str, torch.Tensor]:
    img = torch.arange(2 * 3 * h * w, dtype=torch.float32).reshape(2, 3, h, w)
    K, poses = _rig(0)
    return {"ref_image": img[0], "src_images": img, "ref_depth": img[0, :1], "K": K,
            "T_world_ref": poses[0], "T_world_srcs": poses[1:]}  # fmt: skip


@given(seed=st.integers(0, 10_000))
def test_flip_mirrors_every_projection(seed):
    """After the flip, the mirrored world point F X projects to u' = W - 1 - u, v' = v in every view."""
    w, h = 61, 40
    K, poses = _rig(seed)
    sample = {
        "ref_image": torch.zeros(3, h, w),
        "src_images": torch.zeros(2, 3, h, w),
        "ref_depth": torch.zeros(1, h, w),
        "K": K,
        "T_world_ref": poses[0],
        "T_world_srcs": poses[1:],
    }
    flipped = flip_horizontal(sample)
    g = torch.Generator().manual_seed(seed)
    for T, Tf in zip(poses, torch.cat([flipped["T_world_ref"][None], flipped["T_world_srcs"]]), strict=True):
        assert torch.allclose(torch.linalg.det(Tf[:3, :3]), torch.tensor(1.0), atol=1e-5)
        X_cam = torch.rand(1, 3, 5, generator=g) * torch.tensor([4.0, 4.0, 6.0])[None, :, None]
        X_cam += torch.tensor([-2.0, -2.0, 2.0])[None, :, None]  # in front of the camera
        X = transform_points(T[None], X_cam)  # world points
        Xf = X * torch.tensor([-1.0, 1.0, 1.0])[None, :, None]  # the mirrored world
        uv, z = project(X_cam, K[None])
        uvf, zf = project(transform_points(torch.linalg.inv(Tf)[None], Xf), flipped["K"][None])
        torch.testing.assert_close(uvf[:, 0], (w - 1) - uv[:, 0], atol=1e-3, rtol=1e-4)
        torch.testing.assert_close(uvf[:, 1], uv[:, 1], atol=1e-3, rtol=1e-4)
        torch.testing.assert_close(zf, z, atol=1e-4, rtol=1e-4)


def test_flip_mirrors_images_and_depth():
    s = _sample()
    img = s["src_images"]
    f = flip_horizontal(s)
    assert torch.equal(f["ref_image"][:, :, 0], img[0][:, :, 2])
    assert torch.equal(f["src_images"][:, :, :, 0], img[:, :, :, 2])
    assert torch.equal(f["ref_depth"][:, :, 1], img[0, :1, :, 1])
    assert torch.equal(flip_horizontal(f)["T_world_ref"], s["T_world_ref"])


def test_flip_works_on_a_batch():
    s = _sample()
    batch = {k: torch.stack([v, v]) for k, v in s.items()}
    one, both = flip_horizontal(s), flip_horizontal(batch)
    for k in s:
        assert torch.equal(both[k][1], one[k]), k


def test_jitter_is_shared_by_all_views_and_clipped():
    s = {"ref_image": torch.tensor([0.0, 100.0, 250.0]), "src_images": torch.tensor([[10.0, 200.0]])}
    j = jitter_photometric(s, gain=1.1, offset=-15.0)
    torch.testing.assert_close(j["ref_image"], torch.tensor([0.0, 95.0, 255.0]))
    torch.testing.assert_close(j["src_images"], torch.tensor([[0.0, 205.0]]))


def test_augment_draws_three_numbers_whatever_its_switches():
    """The generator advances alike with jitter and flip on or off, so a run's later steps do not depend on them."""
    after = []
    for jitter in (False, True):
        for flip in (False, True):
            g = torch.Generator().manual_seed(3)
            augment(_sample(), jitter, flip, g)
            after.append(torch.rand(1, generator=g).item())
    assert len(set(after)) == 1


def test_augment_is_jitter_then_flip_with_the_drawn_numbers():
    g = torch.Generator().manual_seed(5)
    u = torch.rand(3, generator=torch.Generator().manual_seed(5)).tolist()
    out = augment(_sample(), jitter=True, flip=True, generator=g)
    gain, offset = 0.8 + 0.4 * u[0], -20.0 + 40.0 * u[1]
    expected = jitter_photometric(_sample(), gain, offset)
    expected = flip_horizontal(expected) if u[2] < 0.5 else expected
    for k in expected:
        assert torch.equal(out[k], expected[k]), k
    assert torch.equal(augment(_sample(), False, False, g)["ref_image"], _sample()["ref_image"])


def test_augment_refuses_bad_switches_and_generators():
    with pytest.raises(TypeError, match="jitter"):
        augment(_sample(), "yes", True, torch.Generator())
    with pytest.raises(TypeError, match="generator"):
        augment(_sample(), True, True, 0)
    with pytest.raises(ValueError, match="sample"):
        augment({"ref_image": torch.zeros(3, 2, 2)}, True, True, torch.Generator())


def _rendered_sample(seed: int = 0) -> dict:
    ds = SyntheticMultiViewDataset("val", 1, 2, height=24, width=32, cache=False, seed=seed)
    return ds[seed % 2]


def test_flip_horizontal_of_a_batch_flips_each_sample():
    samples = [_rendered_sample(0), _rendered_sample(1)]
    samples[1]["K"][0, 1] = 0.5  # a skew, so that its sign flip shows
    batched = flip_horizontal(collate_samples(samples, "cpu"))
    for i, s in enumerate(samples):
        single = flip_horizontal(s)
        for k, v in single.items():
            assert torch.equal(batched[k][i], v), k
