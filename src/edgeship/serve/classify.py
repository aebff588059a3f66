"""The image endpoint: an image file in, the top-k labels out.

``POST /v1/models/{name}:classify`` takes the image as the raw body (any ``image/*`` or
``application/octet-stream``) or as the first file of a ``multipart/form-data`` upload
(``curl -F image=@digit.png``). The image's bit depth (8-bit 0..255, 16-bit 0..65535) is
mapped onto the card's raw domain, then the card's preprocessing (color mode, size, scale,
offset, mean, std, layout) turns it into the model's input; the card's labels name the
classes. Pillow decodes the image (``pip install 'edgeship[serve]'``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeship._lazy import require
from edgeship.errors import InvalidInputError
from edgeship.runtime import images
from edgeship.runtime.preprocess import normalize, output_step, scores_of
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


def preprocess_image(model: ServedModel, data: bytes) -> np.ndarray:
    """Decode ``data`` and turn it into a batch of one model input, as the card says: the
    image's bit depth (0..255, 0..65535) is mapped onto the card's raw domain, then the card's
    scale, offset, mean and std apply (:mod:`edgeship.runtime.images`)."""
    require("PIL.Image", "serve", "decode images for the classify endpoint")
    pre = images.preprocessing_of(model.card)
    h, w, c = _input_geometry(model, pre.layout)
    try:
        pixels, top = images.decode(data, h, w, c, max_pixels=MAX_PIXELS)
    except InvalidInputError as exc:
        raise HttpError(400, f"The body is not an image this model can take: {exc}") from exc
    x = normalize(images.to_raw(pixels, top, pre), pre)
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
