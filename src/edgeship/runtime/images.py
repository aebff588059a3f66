"""Image files to model input: decode with Pillow, resize, map the bit depth to the model's domain.

An image file's domain is its bit depth: 8-bit files (PNG, JPEG, BMP...: modes ``L``, ``RGB``,
``P``, ``RGBA``...) span 0..255, 16-bit files (``I;16`` PNG/TIFF, and 32-bit integer ``I``
images, taken as 16-bit) 0..65535, and 32-bit float ``F`` images 0..1. The full range of the
file is mapped linearly onto the card's raw domain (:meth:`edgeship.card.Preprocessing.raw_domain`,
e.g. ``[0, 16]`` for digits), then the card's preprocessing (scale, offset, mean, std) applies,
exactly as to a raw dataset array. So a 0..255 PNG of a digit reaches a digits model as 0..1,
the values it was trained on. Polarity is the user's: a digit drawn as white ink on black
matches the dataset (0 = background). Without a model card an image goes in as 0..255 pixel
values (16-bit files scaled down to that range), resized to the input.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeship._lazy import require
from edgeship.errors import InvalidInputError

if TYPE_CHECKING:
    from edgeship.card import ModelCard, Preprocessing

FULL_SCALE_8BIT = 255.0
FULL_SCALE_16BIT = 65535.0
_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def full_scale(mode: str) -> float:
    """The value of a full-intensity pixel in a Pillow image of ``mode``."""
    if mode in _WIDE_MODES:
        return FULL_SCALE_16BIT
    if mode == "F":
        return 1.0
    return FULL_SCALE_8BIT


def decode(
    source: Path | bytes,
    height: int | None,
    width: int | None,
    channels: int,
    max_pixels: int | None = None,
) -> tuple[np.ndarray, float]:
    """Decode an image file (a path or its bytes) into ``(H, W, C)`` float32 pixel values.

    Args:
        source: the file, or its bytes.
        height, width: resize to this size (bilinear) when both are given.
        channels: 1 (grayscale) or 3 (RGB).
        max_pixels: refuse larger images (a decompression bomb guard), or None.

    Returns:
        The pixels (values in the file's own domain) and that domain's full-scale value
        (255 for 8-bit files, 65535 for 16-bit ones, 1 for float images).

    Raises:
        InvalidInputError: the data is not an image Pillow can decode, or it is too large.
    """
    pil = require("PIL.Image", "image", "read image files")
    name = str(source) if isinstance(source, Path) else "the image data"
    try:
        with pil.open(source if isinstance(source, Path) else io.BytesIO(source)) as img:
            w0, h0 = img.size
            if max_pixels is not None and w0 * h0 > max_pixels:
                raise InvalidInputError(
                    f"Image of {w0}x{h0} pixels is too large. Expected at most {max_pixels} "
                    "pixels; resize it first."
                )
            top = full_scale(img.mode)
            if top == FULL_SCALE_8BIT:
                img = img.convert("L" if channels == 1 else "RGB")
            else:  # 16-bit or float: resize as float, keep every level
                img = img.convert("F")
            if height and width and img.size != (width, height):
                img = img.resize((width, height), pil.Resampling.BILINEAR)
            arr = np.asarray(img, dtype=np.float32)
    except InvalidInputError:
        raise
    except Exception as exc:  # Pillow raises many types on undecodable data
        detail = "unknown format" if type(exc).__name__ == "UnidentifiedImageError" else exc
        raise InvalidInputError(
            f"Cannot read {name} as an image ({type(exc).__name__}: {detail}). Expected a "
            "PNG, JPEG, BMP, GIF, WebP or TIFF file."
        ) from exc
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[-1] != channels:  # a wide grayscale image for an RGB model
        arr = np.repeat(arr[..., :1], channels, axis=-1)
    return arr, top


def preprocessing_of(card: ModelCard | None) -> Preprocessing:
    """The card's preprocessing, or without a card 0..255 pixel values as they are."""
    from edgeship.card import Preprocessing

    if card is not None:
        return card.preprocessing
    return Preprocessing(raw_range=(0.0, FULL_SCALE_8BIT))


def to_raw(pixels: np.ndarray, top: float, pre: Preprocessing) -> np.ndarray:
    """Map pixel values ``0..top`` linearly onto the card's raw domain (see the module
    docstring); the result takes the card's preprocessing like a raw dataset array."""
    lo, hi = pre.raw_domain()
    factor = np.float32((hi - lo) / top)
    out = pixels * factor
    if lo:
        out += np.float32(lo)
    return out
