"""The image endpoint: an image file in, the top-k labels out.

``POST /v1/models/{name}:classify`` takes the image as the raw body (any ``image/*`` or
``application/octet-stream``) or as the first file of a ``multipart/form-data`` upload
(``curl -F image=@digit.png``). The model card's preprocessing (color mode, size, scale,
offset, mean, std, layout) turns it into the model's input; the card's labels name the
classes. Pillow decodes the image (``pip install 'edgeship[serve]'``).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from edgeship._lazy import require
from edgeship.card import Preprocessing
from edgeship.runtime.preprocess import output_step, scores_of
from edgeship.serve.protocol import HttpError
from edgeship.serve.registry import ServedModel

MAX_PIXELS = 1 << 24
DEFAULT_TOP_K = 5


def extract_image(body: bytes, content_type: str | None) -> bytes:
    """Return the image bytes of a raw or ``multipart/form-data`` body."""
    ctype = (content_type or "").strip()
    if not ctype.lower().startswith("multipart/form-data"):
        if not body:
            raise HttpError(400, "Expected an image file in the request body. Got an empty body.")
        return body
    boundary = ""
    for param in ctype.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary:
        raise HttpError(400, "multipart/form-data without a boundary parameter.")
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    part: bytes
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, sep, content = part.partition(b"\r\n\r\n")
        low = head.lower()
        if sep and (b"filename=" in low or b'name="image"' in low):
            return content[:-2] if content.endswith(b"\r\n") else content
    raise HttpError(400, "The multipart/form-data body holds no file part. Expected one image.")


def _input_geometry(model: ServedModel, layout: str) -> tuple[int, int, int]:
    if len(model.inputs) != 1 or len(model.inputs[0].shape) not in (3, 4):
        raise HttpError(
            400,
            f"Model '{model.name}' does not take one image (inputs: "
            f"{[(m.name, list(m.shape)) for m in model.inputs]}). Use :predict instead.",
        )
    shape = model.inputs[0].shape
    if len(shape) == 3:
        h, w, c = shape[1], shape[2], 1
    elif layout.upper() == "NCHW":
        c, h, w = shape[1], shape[2], shape[3]
    else:
        h, w, c = shape[1], shape[2], shape[3]
    if c not in (1, 3) or h < 1 or w < 1:
        raise HttpError(
            400, f"Model '{model.name}' input {list(shape)} is not a 1- or 3-channel image."
        )
    return h, w, c


def _normalize(x: np.ndarray, pre: Preprocessing) -> np.ndarray:
    y = x * np.float32(pre.scale) + np.float32(pre.offset)
    if pre.mean is not None:
        y = y - np.asarray(pre.mean, dtype=np.float32)
    if pre.std is not None:
        y = y / np.asarray(pre.std, dtype=np.float32)
    return y.astype(np.float32, copy=False)


def preprocess_image(model: ServedModel, data: bytes) -> np.ndarray:
    """Decode ``data`` and turn it into a batch of one model input, as the card says."""
    image_mod = require("PIL.Image", "serve", "decode images for the classify endpoint")
    pre = model.card.preprocessing if model.card else Preprocessing()
    h, w, c = _input_geometry(model, pre.layout)
    try:
        img = image_mod.open(io.BytesIO(data))
        if img.size[0] * img.size[1] > MAX_PIXELS:
            raise HttpError(400, f"Image of {img.size[0]}x{img.size[1]} pixels is too large.")
        mode = "RGB" if c == 3 else "L"  # the input's channel count decides
        img = img.convert(mode)
        if img.size != (w, h):
            img = img.resize((w, h), image_mod.Resampling.BILINEAR)
        x = np.asarray(img, dtype=np.float32)
    except HttpError:
        raise
    except Exception as exc:  # Pillow raises many types on undecodable data
        detail = "unknown format" if type(exc).__name__ == "UnidentifiedImageError" else exc
        raise HttpError(
            400, f"The body is not an image Pillow can decode ({type(exc).__name__}: {detail})."
        ) from exc
    if x.ndim == 2:
        x = x[:, :, None]
    x = _normalize(x, pre)
    if len(model.inputs[0].shape) == 3:
        x = x[:, :, 0]
    elif pre.layout.upper() == "NCHW":
        x = np.transpose(x, (2, 0, 1))
    return np.ascontiguousarray(x[None, ...])


def parse_top_k(value: str | None, classes: int) -> int:
    """Parse the ``top_k`` query parameter (default 5, at most the number of classes)."""
    if value is None:
        return min(DEFAULT_TOP_K, classes)
    try:
        k = int(value)
    except ValueError:
        k = 0
    if k < 1:
        raise HttpError(400, f"top_k must be a positive integer. Got: {value!r:.40}")
    return min(k, classes)


def top_k(model: ServedModel, scores: np.ndarray, k: int) -> list[dict[str, Any]]:
    """Return the ``k`` best classes as ``{"index", "label", "score"}`` entries.

    Scores are probabilities, as ``edgeship predict`` shows them: a softmax output as it is,
    logits through a softmax.
    """
    step = output_step(model.engines[0].outputs) if model.engines else 0.0
    flat = scores_of(scores, step)
    order = np.argsort(-flat, kind="stable")[:k]
    labels = model.card.labels if model.card and model.card.labels else None
    return [
        {
            "index": int(i),
            "label": labels[i] if labels is not None and i < len(labels) else str(int(i)),
            "score": float(flat[i]),
        }
        for i in order
    ]
