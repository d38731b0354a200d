"""Tests of mvdlib.data.textures: the mipmapped atlas and its trilinear, periodic lookup."""

from __future__ import annotations

import numpy as np

from mvdlib.data.textures import (
    MIN_MIP_SIZE,
    NUM_NOISE_TEXTURES,
    TEXTURE_FILES,
    TEXTURE_SOURCE_SIZE,
    _wrap,
    sample_texture,
    texture_bank,
)


def test_atlas_holds_every_texture_and_every_level() -> None:
    atlas = texture_bank()
    assert len(atlas.names) == len(TEXTURE_FILES) + NUM_NOISE_TEXTURES
    assert atlas.sizes[0] == 2 * TEXTURE_SOURCE_SIZE and atlas.sizes[-1] == MIN_MIP_SIZE
    np.testing.assert_array_equal(atlas.sizes[:-1], 2 * atlas.sizes[1:])  # each level half the last
    assert atlas.origin.shape == (len(atlas.names), len(atlas.sizes), 2)
    assert texture_bank() is atlas  # built once per process


def test_sample_texture_wraps_and_interpolates() -> None:
    atlas = texture_bank()
    size = atlas.sizes[0]
    tex = np.zeros(3, np.int64)
    x, y = np.array([10.0, 10.0 + size, 10.5]), np.array([20.0, 20.0 - 3 * size, 20.0])
    colour = sample_texture(atlas, tex, x, y, np.zeros(3))
    x0, y0 = atlas.origin[0, 0]
    texels = atlas.image[y0 + 20, x0 + 10 : x0 + 12].astype(np.float32) / 255
    np.testing.assert_allclose(colour[0], texels[0], atol=1 / 255)
    np.testing.assert_allclose(colour[1], colour[0], atol=1e-6)  # the texture repeats with period `size`
    np.testing.assert_allclose(colour[2], texels.mean(0), atol=1.5 / 255)  # bilinear between texels


def test_every_level_keeps_the_mean_colour() -> None:
    # a mip level is a low-pass copy of the level above: the mean colour stays (to a grey level or two)
    atlas = texture_bank()
    for t in range(len(atlas.names)):
        means = []
        for k, s in enumerate(atlas.sizes):
            x0, y0 = atlas.origin[t, k]
            means.append(atlas.image[y0 : y0 + s, x0 : x0 + s].reshape(-1, 3).mean(0))
        np.testing.assert_allclose(means, np.broadcast_to(means[0], np.shape(means)), atol=2.5)


def test_wrap_equals_np_mod_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    m = rng.uniform(-5000, 5000, 1000).astype(np.float32)
    size = np.full(1000, 64.0, np.float32)
    expected = np.mod(m, size)
    _wrap(m, size)
    assert m.tobytes() == expected.tobytes()
