"""The textures of the synthetic scenes: a mipmapped atlas and its trilinear lookup (chapter 2).

Every surface of a :class:`~mvdlib.data.scene.SyntheticScene` shows one periodic texture:
photographs and textures shipped inside the scikit-image wheel (read from its folder, never
downloaded), and procedural multi-scale noise drawn from a fixed seed, so the texture bank is
the same in every process. Each texture is mirror-tiled so that it repeats without seams, and
stored with all its mipmap levels in one uint8 image (:class:`TextureAtlas`);
:func:`sample_texture` reads it trilinearly, with the mip level chosen by the caller from a
pixel's footprint (:mod:`mvdlib.data.render`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = ["TextureAtlas", "sample_texture", "texture_bank"]

# Textures bundled in the scikit-image wheel (files in skimage/data, read directly so that
# nothing is ever fetched): photographs used as they are, and grey textures tinted per surface.
TEXTURE_FILES = {
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "rocket": "rocket.jpg",
    "immunohistochemistry": "ihc.png",
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
}
GREY_TEXTURES = ("brick", "grass", "gravel")
NUM_NOISE_TEXTURES = 4
NOISE_TEXTURE_SEED = 2018  # fixed: the texture bank is the same in every process
TEXTURE_SOURCE_SIZE = 256  # each source is resized to this square, then mirror-tiled (2x)
NOISE_SPECTRAL_EXPONENT = 1.0  # amplitude ~ 1/f^beta: detail at every scale, coarse dominating
MIN_MIP_SIZE = 4  # the coarsest mipmap level, in texels


def _seamless(img: np.ndarray) -> np.ndarray:
    """Square uint8 RGB tile, mirrored so that it repeats without seams (2 x source size)."""
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    img = cv2.resize(img, (TEXTURE_SOURCE_SIZE, TEXTURE_SOURCE_SIZE), interpolation=cv2.INTER_AREA)
    img = np.concatenate([img, img[:, ::-1]], 1)
    return np.concatenate([img, img[::-1]], 0)


def _noise_texture(rng: np.random.Generator) -> np.ndarray:
    """Periodic multi-scale colour noise (uint8): random phases under a 1/f^beta spectrum."""
    n = 2 * TEXTURE_SOURCE_SIZE
    radius = np.hypot(np.fft.fftfreq(n)[:, None], np.fft.rfftfreq(n)[None, :]).astype(np.float32)
    radius[0, 0] = np.inf  # no constant term
    shape = (3, *radius.shape)
    spectrum = (
        rng.standard_normal(shape, np.float32) + 1j * rng.standard_normal(shape, np.float32)
    ) / radius**NOISE_SPECTRAL_EXPONENT
    fields = np.fft.irfft2(spectrum, s=(n, n)).astype(np.float32)  # 3 x n x n, periodic
    fields /= fields.std(axis=(1, 2), keepdims=True)
    base = rng.uniform(0.25, 0.75, 3).astype(np.float32)
    mix = rng.uniform(-0.12, 0.12, (3, 3)).astype(np.float32)  # colour of each noise field
    rgb = np.clip(base + np.moveaxis(fields, 0, -1) @ mix, 0.0, 1.0)
    return np.rint(255 * rgb).astype(np.uint8)


def _mip_pyramid(tile: np.ndarray) -> list[np.ndarray]:
    """Mipmap levels of a periodic tile, each half the size of the last, down to MIN_MIP_SIZE."""
    levels = [tile]
    while levels[-1].shape[0] > MIN_MIP_SIZE:
        padded = cv2.copyMakeBorder(levels[-1], 4, 4, 4, 4, cv2.BORDER_WRAP)
        levels.append(cv2.pyrDown(padded)[2:-2, 2:-2])
    return levels


@dataclass(frozen=True)
class TextureAtlas:
    """Every texture and every mipmap level packed into one uint8 image.

    Texture ``i`` occupies a band of rows; its level ``k`` (``sizes[k]`` texels square)
    sits in that band with a one-texel periodic border, so bilinear lookups wrap.

    Attributes:
        names: texture names.
        image: Ha x Wa x 3 uint8 atlas.
        origin: Ntex x Nlev x 2 ``(x, y)`` atlas position of texel (0, 0) of each level.
        sizes: Nlev level sizes in texels.
    """

    names: tuple[str, ...]
    image: np.ndarray
    origin: np.ndarray
    sizes: np.ndarray


@functools.cache
def texture_bank() -> TextureAtlas:
    """The textures every scene draws from, as a mipmapped :class:`TextureAtlas` (built once per process).

    Eight textures from the scikit-image wheel and ``NUM_NOISE_TEXTURES`` noise textures, each
    a 512-texel periodic tile with mip levels down to ``MIN_MIP_SIZE`` texels.

    Example:
        >>> atlas = texture_bank()
        >>> atlas.names[:2], atlas.sizes[:3].tolist(), atlas.image.dtype
        (('astronaut', 'coffee'), [512, 256, 128], dtype('uint8'))
    """
    import skimage.data

    folder = Path(skimage.data.__file__).parent
    names, tiles = [], []
    for name, file in TEXTURE_FILES.items():
        img = cv2.imread(str(folder / file), cv2.IMREAD_COLOR)  # grey files come back as 3 equal channels
        if img is None:
            raise FileNotFoundError(f"texture {file} is missing from {folder}; reinstall scikit-image")
        names.append(name)
        tiles.append(_seamless(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)))
    rng = np.random.default_rng(NOISE_TEXTURE_SEED)
    for i in range(NUM_NOISE_TEXTURES):
        names.append(f"noise{i}")
        tiles.append(_noise_texture(rng))
    pyramids = [_mip_pyramid(t) for t in tiles]
    sizes = np.array([level.shape[0] for level in pyramids[0]])
    if (sizes & (sizes - 1)).any():  # _wrap is exact only for powers of two
        raise RuntimeError(f"mip level sizes must be powers of two, got {sizes.tolist()}")
    columns = np.concatenate([[0], np.cumsum(sizes + 2)])
    band = sizes[0] + 2
    image = np.zeros((band * len(tiles), columns[-1], 3), np.uint8)
    origin = np.zeros((len(tiles), len(sizes), 2), np.int64)
    for i, pyramid in enumerate(pyramids):
        for k, level in enumerate(pyramid):
            y0, x0 = i * band, columns[k]
            image[y0 : y0 + sizes[k] + 2, x0 : x0 + sizes[k] + 2] = cv2.copyMakeBorder(
                level, 1, 1, 1, 1, cv2.BORDER_WRAP
            )
            origin[i, k] = (x0 + 1, y0 + 1)
    return TextureAtlas(tuple(names), image, origin, sizes)


def _wrap(m: np.ndarray, size: np.ndarray) -> None:
    """``m = np.mod(m, size)`` in place, bit for bit, for power-of-two ``size`` (mip level sizes).

    ``m - floor(m / size) size``: dividing and multiplying by a power of two are exact, and
    the difference is the exact remainder (rounded once, as ``np.mod`` rounds it, for negative
    ``m``); about 30 times faster than ``np.mod``'s float path.
    """
    wrap = np.divide(m, size)
    np.floor(wrap, out=wrap)
    wrap *= size
    m -= wrap


def sample_texture(
    atlas: TextureAtlas, texture: np.ndarray, x: np.ndarray, y: np.ndarray, level: np.ndarray
) -> np.ndarray:
    """Trilinear (mipmapped) lookup of periodic textures at level-0 texel coordinates.

    Args:
        atlas: the :class:`TextureAtlas`.
        texture: (M,) texture indices.
        x, y: (M,) texel coordinates of level 0 (integer = texel centre), any range (the
            textures repeat).
        level: (M,) fractional mip level; level ``k`` has texels ``2^k`` times larger.
    Returns:
        (M, 3) float32 colours in [0, 1].

    Example:
        >>> atlas = texture_bank()
        >>> one = np.array([0])
        >>> a = sample_texture(atlas, one, np.array([10.0]), np.array([20.0]), np.array([0.0]))
        >>> b = sample_texture(atlas, one, np.array([10.0 + 512]), np.array([20.0]), np.array([0.0]))
        >>> a.shape, bool(np.allclose(a, b))  # the texture repeats every 512 texels
        ((1, 3), True)
    """
    last = len(atlas.sizes) - 1
    level = np.clip(level, 0, last).astype(np.float32)
    base = np.minimum(level.astype(np.int64), last - 1)  # level >= 0: truncation is floor
    frac = (level - base)[:, None]
    scale = (0.5 ** np.arange(last + 1)).astype(np.float32)  # texel size ratio of each level
    size = atlas.sizes.astype(np.float32)
    origin = atlas.origin.reshape(-1, 2).astype(np.float32)  # (texture, level) -> atlas (x, y)
    out = np.zeros((x.size, 3), np.float32)
    chunk = 1024  # cv2.remap wants a 2D map with fewer than 32767 rows
    rows = -(-x.size // chunk)
    maps = np.zeros((2, rows * chunk), np.float32)
    for lvl, weight in ((base, 1 - frac), (base + 1, frac)):
        org = origin[texture * (last + 1) + lvl]  # M x 2
        for axis, coord in enumerate((x, y)):
            m = maps[axis, : x.size]
            np.multiply(coord + 0.5, scale[lvl], out=m)
            m -= 0.5
            _wrap(m, size[lvl])
            m += org[:, axis]
        colour = cv2.remap(
            atlas.image,
            maps[0].reshape(rows, chunk),
            maps[1].reshape(rows, chunk),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        out += weight * colour.reshape(-1, 3)[: x.size]
    return out / 255.0
