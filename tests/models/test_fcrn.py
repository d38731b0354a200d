"""Tests of mvdlib.models.fcrn: FCRN's output size, decoders and width."""

from __future__ import annotations

import pytest
import torch

from mvdlib.models.fcrn import DECODERS, FCRN, decoder_block


@pytest.mark.parametrize("decoder", DECODERS)
def test_fcrn_output_is_half_resolution_for_every_decoder(decoder):
    torch.manual_seed(0)
    model = FCRN(width=0.125, decoder=decoder).eval()
    assert model(torch.randn(2, 3, 32, 48)).shape == (2, 1, 16, 24)


@pytest.mark.parametrize("decoder", DECODERS)
def test_decoder_blocks_double_the_resolution(decoder):
    block = decoder_block(decoder, 4, 2).eval()
    assert block(torch.randn(1, 4, 5, 7)).shape == (1, 2, 10, 14)


def test_fcrn_width_shrinks_the_network():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(FCRN(width=0.25)) < count(FCRN(width=0.5)) < count(FCRN(width=1.0))


def test_fcrn_bad_inputs():
    with pytest.raises(ValueError, match="decoder"):
        FCRN(decoder="pixel_shuffle")
    with pytest.raises(ValueError, match="width"):
        FCRN(width=0.0)
    with pytest.raises(ValueError, match="multiples of 16"):
        FCRN(width=0.1)(torch.zeros(1, 3, 30, 48))
    with pytest.raises(ValueError, match="B x 3 x H x W"):
        FCRN(width=0.1)(torch.zeros(1, 1, 32, 48))
