"""DWT-DCT baseline (imwatermark, as shipped with SDXL): bit round trip, binomial detection, bad input."""
import numpy as np
import pytest

from genzoo.errors import ConfigError, DataError
from genzoo.safety import dwt_dct


@pytest.fixture(scope="module")
def images():
    """Three smooth 16x16 RGB pictures (a gradient plus a blob), like small model samples."""
    yy, xx = np.mgrid[0:16, 0:16]
    out = []
    for i in range(3):
        blob = 200 * np.exp(-((yy - 5 - 3 * i) ** 2 + (xx - 8) ** 2) / 12)
        out.append(np.stack([blob + 10 * c + 3 * xx for c in range(3)], -1))
    return np.clip(np.stack(out), 0, 255).astype(np.uint8)


def test_round_trip_recovers_the_bits(images):
    marked = dwt_dct.embed(images, 1234)
    assert marked.shape == (3, 256, 256, 3) and marked.dtype == np.uint8
    assert (dwt_dct.decode(marked) == dwt_dct.message_bits(1234).astype(bool)).all()
    # the same bits as imwatermark's own decoder reading the same BGR image
    from imwatermark import WatermarkDecoder

    ref = WatermarkDecoder("bits", 48).decode(np.ascontiguousarray(marked[0][..., ::-1]), "dwtDct")
    assert np.array_equal(np.asarray(ref, dtype=bool), dwt_dct.decode(marked[:1])[0])
    # invisible: a small mean change to the nearest-neighbour upsampled originals
    plain = dwt_dct.upsample(images)
    assert np.abs(marked.astype(int) - plain).mean() < 3


def test_detection_clean_wrong_key_and_message(images):
    marked = dwt_dct.embed(images, 1234)
    assert all(r["watermarked"] and r["bit_accuracy"] == 1.0 and r["p_value"] < 1e-12 for r in dwt_dct.detect(marked, 1234))
    assert not any(r["watermarked"] for r in dwt_dct.detect(dwt_dct.upsample(images), 1234))
    assert not any(r["watermarked"] for r in dwt_dct.detect(marked, 999))  # wrong key
    bits = dwt_dct.message_bits(1234)
    assert bits.shape == (48,) and 10 < bits.sum() < 38 and not np.array_equal(bits, dwt_dct.message_bits(999))


def test_sizes_and_grey_images():
    assert dwt_dct.upsample_factor(16, 16) == 16 and dwt_dct.upsample_factor(8, 8) == 32
    assert dwt_dct.upsample_factor(300, 300) == 1 and dwt_dct.upsample_factor(100, 400) == 3
    grey = (np.arange(256).reshape(16, 16)[None] * np.ones((2, 1, 1))).astype(np.uint8)
    marked = dwt_dct.embed(grey, 7)  # (N, H, W) grey -> three channels, the bits in the chroma
    assert marked.shape == (2, 256, 256, 3) and all(r["watermarked"] for r in dwt_dct.detect(marked, 7))


def test_empty_blank_and_bad_inputs():
    assert dwt_dct.detect(np.zeros((0, 256, 256, 3), np.uint8), 1) == []
    blank = dwt_dct.detect(np.zeros((2, 256, 256, 3), np.uint8), 1)
    assert not any(r["watermarked"] for r in blank) and all(r["p_value"] == 1.0 for r in blank)
    with pytest.raises(DataError, match="uint8"):
        dwt_dct.embed(np.zeros((1, 16, 16, 3)), 1)
    with pytest.raises(DataError, match="empty"):
        dwt_dct.detect(np.zeros((1, 0, 16, 3), np.uint8), 1)
    with pytest.raises(DataError, match="shape"):
        dwt_dct.detect(np.zeros((1, 16, 16, 2), np.uint8), 1)
    with pytest.raises(ConfigError, match="key"):
        dwt_dct.embed(np.zeros((1, 16, 16, 3), np.uint8), -5)
