"""What an outside reviewer tried against the new layout: each defect found, now a regression test."""

import threading

import numpy as np
import pytest
import torch

from mvdlib._validation import value_checks, value_checks_enabled
from mvdlib.conventions import as_mask, valid_depth


def test_value_checks_off_in_one_thread_does_not_leak_to_another():
    inside, done, seen = threading.Event(), threading.Event(), {}

    def a():
        with value_checks(False):
            inside.set()
            done.wait(5)

    def b():
        inside.wait(5)
        seen["b"] = value_checks_enabled()
        done.set()

    ta, tb = threading.Thread(target=a), threading.Thread(target=b)
    ta.start(), tb.start(), ta.join(), tb.join()
    assert seen["b"] is True


def test_value_checks_of_a_closed_generator_do_not_outlive_it():
    """A context entered in a generator lasts while it is suspended (as decimal.localcontext does), not after."""

    def gen():
        with value_checks(False):
            yield 1

    it = gen()
    next(it)
    it.close()
    assert value_checks_enabled() is True


def test_value_checks_restored_after_exception():
    with pytest.raises(RuntimeError):
        with value_checks(False):
            raise RuntimeError
    assert value_checks_enabled() is True


def test_as_mask_accepts_big_endian_01_array():
    assert as_mask(np.array([[1, 0]], dtype=">i4"), (1, 2)).tolist() == [[True, False]]


def test_as_mask_zero_d():
    assert as_mask(np.bool_(True), ()).item() is True


def test_valid_depth_complex_tensor_is_type_error():
    with pytest.raises(TypeError):
        valid_depth(torch.tensor([1j]))


def test_valid_depth_complex_array_is_type_error():
    with pytest.raises(TypeError):
        valid_depth(np.array([1j]))


def test_training_cli_num_depths_1_is_one_line_error(capsys):
    """In-process (tests/test_training_cli.py runs the command itself): an exception that escaped
    ``main`` would fail this test as the traceback did the command."""
    from mvdlib.training.__main__ import main

    with pytest.raises(SystemExit) as exit_:
        main(["--num-depths", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.splitlines()) == 1 and "num_depths" in err


def test_numpy_in_out_layouts_match_contiguous():
    from mvdlib.geometry import backproject

    K = np.array([[50.0, 0, 16], [0, 50, 12], [0, 0, 1]])
    d = np.random.default_rng(0).uniform(1, 3, (24, 32))
    ref = backproject(d, K)
    assert isinstance(ref, np.ndarray)
    np.testing.assert_array_equal(backproject(d.astype(">f8"), K), ref)
    np.testing.assert_array_equal(backproject(np.asfortranarray(d), K), ref)
    np.testing.assert_array_equal(backproject(d[:, ::-1], K), backproject(d[:, ::-1].copy(), K))


# ---- issue 22: the second, wider probe -------------------------------------------------------


def _cache_file(tmp_path):
    from mvdlib.data.synthetic import SyntheticMultiViewDataset

    ds = SyntheticMultiViewDataset("val", 1, 1, height=16, width=16, cache_dir=tmp_path)
    return ds, tmp_path / "synthetic" / f"{ds.cache_key(0)}.npz"


@pytest.mark.parametrize(
    "poison",
    [
        {"ref_depth": np.nan},
        {"ref_depth": -1.0},
        {"K": -5 * np.eye(3)},
        {"T_world_ref": 3 * np.eye(4)},
        {"T_world_srcs": np.full((1, 4, 4), np.inf)},
    ],
    ids=["nan depth", "negative depth", "K=-5I", "scaled pose", "inf source pose"],
)
def test_a_poisoned_cache_entry_is_rendered_again(tmp_path, poison):
    ds, path = _cache_file(tmp_path)
    clean = ds[0]
    with np.load(path) as f:
        entries = {k: f[k] for k in f.files}
    for key, value in poison.items():
        entries[key] = np.broadcast_to(np.asarray(value, entries[key].dtype), entries[key].shape).copy()
    np.savez(path, **entries)
    again = ds[0]
    assert all(torch.equal(clean[k], again[k]) for k in clean)
    with np.load(path) as f:  # and the file was replaced
        assert np.isfinite(f["ref_depth"]).all() and f["K"][0, 0] > 0


def test_a_folder_at_a_cache_path_is_replaced_when_empty_and_never_served(tmp_path):
    ds, path = _cache_file(tmp_path)
    clean = ds[0]
    path.unlink()
    path.mkdir()
    assert torch.equal(ds[0]["ref_depth"], clean["ref_depth"]) and path.is_file()
    path.unlink()
    path.mkdir()
    (path / "keep").write_text("a reader's file")
    assert torch.equal(ds[0]["ref_depth"], clean["ref_depth"]) and (path / "keep").is_file()


def test_a_dataset_takes_an_integer_tensor_index_and_refuses_a_float_one():
    from mvdlib.data.synthetic import SyntheticMultiViewDataset

    ds = SyntheticMultiViewDataset("val", 1, 1, height=16, width=16, cache=False)
    assert torch.equal(ds[torch.tensor(0)]["K"], ds[0]["K"])
    with pytest.raises(TypeError, match="index"):
        ds[torch.tensor(0.0)]


def test_nan_input_is_refused_by_the_networks_and_never_poisons_batchnorm_statistics():
    from mvdlib.layers import ScratchBatchNorm2d
    from mvdlib.models.eigen import EigenCoarseFine
    from mvdlib.models.mvdepthnet import MVDepthNet

    x = torch.rand(2, 3, 32, 32)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="ref_image"):
        MVDepthNet(0.125, 8, input_size=(32, 32)).eval()(x, torch.rand(2, 8, 32, 32))
    with pytest.raises(ValueError, match="image"):
        EigenCoarseFine(64, 80, hidden=16).eval()(torch.full((1, 3, 64, 80), float("nan")))
    bn = ScratchBatchNorm2d(3).train()
    with pytest.raises(ValueError, match="input"):
        bn(x)
    assert torch.isfinite(bn.running_mean).all() and int(bn.num_batches_tracked) == 0
    with value_checks(False):  # switched off (training after its first step): no sync, no check
        bn(x)


def test_tsdf_fuse_takes_a_depth_that_requires_grad():
    from mvdlib.tsdf import tsdf_fuse

    K = torch.tensor([[20.0, 0.0, 15.5], [0.0, 20.0, 11.5], [0.0, 0.0, 1.0]])
    depth = torch.full((24, 32), 2.0, requires_grad=True)
    fused = tsdf_fuse([{"depth": depth, "K": K, "T_world_cam": torch.eye(4)}], voxel_size=0.05)
    plain = tsdf_fuse([{"depth": depth.detach(), "K": K, "T_world_cam": torch.eye(4)}], voxel_size=0.05)
    assert len(fused.mesh.vertices) == len(plain.mesh.vertices) > 0
