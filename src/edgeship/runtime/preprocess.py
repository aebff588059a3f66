"""Model-card preprocessing in numpy, image files with Pillow, and top-k labels.

The card's ``Preprocessing`` maps raw data to model input: ``y = (x * scale + offset - mean) /
std`` (per channel when mean/std are lists), then the card's layout (NHWC or NCHW). Raw data
means values in the dataset's raw domain (``.npy`` arrays); an image file is first mapped from
its bit depth onto that domain (:mod:`edgeship.runtime.images`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeship.errors import InvalidInputError
from edgeship.fileio import not_a_file
from edgeship.runtime.specs import TensorSpec

if TYPE_CHECKING:  # a Protocol class costs every start of a command that imports this module
    from typing import Protocol

    from edgeship.card import ModelCard, Preprocessing

    class ModelLike(Protocol):
        """What preprocessing reads from a loaded model (``edgeship.runtime.Engine`` has it)."""

        @property
        def inputs(self) -> Sequence[TensorSpec]: ...

        @property
        def outputs(self) -> Sequence[TensorSpec]: ...

        @property
        def card(self) -> ModelCard | None: ...

        def predict(self, x: Any) -> Any: ...


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def normalize(x: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """Apply ``(x * scale + offset - mean) / std`` in float32 (channels last)."""
    y = np.asarray(x, dtype=np.float32) * np.float32(pre.scale) + np.float32(pre.offset)
    if pre.mean is not None:
        y = y - np.asarray(pre.mean, dtype=np.float32)
    if pre.std is not None:
        y = y / np.asarray(pre.std, dtype=np.float32)
    return y


def image_geometry(spec: TensorSpec, pre: Preprocessing) -> tuple[int | None, int | None, int]:
    """Return ``(height, width, channels)`` the model wants, from the card then the tensor."""
    layout = pre.layout.upper()
    dims = spec.shape[1:] if len(spec.shape) == 4 else (None, None, None)
    h, w, c = (dims[1], dims[2], dims[0]) if layout == "NCHW" else (dims[0], dims[1], dims[2])
    if pre.image_size is not None:
        h, w = pre.image_size
    if pre.color_mode == "grayscale":
        c = 1
    elif pre.color_mode == "rgb":
        c = 3
    return h, w, int(c or 3)


def read_image(
    path: Path, height: int | None, width: int | None, channels: int, pre: Preprocessing
) -> np.ndarray:
    """Read an image file as an ``(H, W, C)`` float32 array in the card's raw domain (its bit
    depth mapped onto :meth:`~edgeship.card.Preprocessing.raw_domain`)."""
    from edgeship.runtime import images

    pixels, top = images.decode(path, height, width, channels)
    return images.to_raw(pixels, top, pre)


def load_input(path: Path, engine: ModelLike) -> np.ndarray:
    """Read an image file or an .npy of raw values and preprocess it for ``engine``'s first
    input with its card (see :func:`prepare_input`)."""
    return prepare_input(path, engine.inputs[0], engine.card)


def prepare_input(path: Path, spec: TensorSpec, card: ModelCard | None) -> np.ndarray:
    """Read an image file (its bit depth mapped onto the card's raw domain) or an .npy of
    raw values, and preprocess it for input ``spec`` with ``card``'s preprocessing (raw values
    when there is no card).

    Returns:
        A batch of one, in the model's layout, as float32.
    """
    from edgeship.runtime import images

    pre = images.preprocessing_of(card)
    h, w, c = image_geometry(spec, pre)
    if path.suffix.lower() == ".npy":
        from edgeship.samples import load_samples

        arr = load_samples(path).single.astype(np.float32)
        if arr.ndim == 2 and len(spec.shape) == 4:  # a grayscale image; (T, F) sequences stay
            arr = arr[..., None]
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        arr = read_image(path, h, w, c, pre)
    else:
        raise InvalidInputError(
            f"{path} is not an image. Expected one of {', '.join(IMAGE_SUFFIXES)} or .npy."
        )
    y = normalize(arr, pre)
    if y.ndim == 3 and pre.layout.upper() == "NCHW":
        y = y.transpose(2, 0, 1)
    return np.ascontiguousarray(y[None])


def scores_of(output: np.ndarray, step: float = 0.0) -> np.ndarray:
    """Class scores of one sample: the output itself when it is a probability vector,
    otherwise its softmax.

    A quantized softmax is off by up to half a quantization step per class, so its sum may
    miss 1: ``step`` is the output's scale (0 when the output is float), and 0.02 more covers
    a float output computed by an int8 softmax (10 classes at 1/256 steps).
    """
    v = np.asarray(output, dtype=np.float64).reshape(-1)
    tolerance = 0.02 + v.size * step / 2
    if v.size and v.min() >= 0 and v.max() <= 1 + step and abs(v.sum() - 1.0) <= tolerance:
        return v
    e = np.exp(v - v.max())
    return e / e.sum()  # type: ignore[no-any-return]


def output_step(outputs: Sequence[TensorSpec]) -> float:
    """The quantization scale of a model's first output (0 for a float output)."""
    quant = outputs[0].quantization if outputs else None
    return float(quant[0]) if quant else 0.0


def top_k(output: np.ndarray, labels: Any, k: int, step: float = 0.0) -> list[tuple[str, float]]:
    """Return the ``k`` best ``(label, score)`` pairs of one sample's output.

    ``step``: the output's quantization scale, see :func:`scores_of`.
    """
    scores = scores_of(output, step)
    order = np.argsort(-scores, kind="stable")[: max(1, k)]
    names = list(labels) if labels is not None and len(labels) == scores.size else None
    return [(names[i] if names else str(int(i)), float(scores[i])) for i in order]


_top_k = top_k  # predict_image's ``top_k`` argument shadows the function


def predict_image(engine: ModelLike, path: str | Path, top_k: int = 5) -> list[tuple[str, float]]:
    """Classify one image file with the card's preprocessing; best ``top_k`` labels first."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"Image {p} {not_a_file(p)}. Expected an image file.")
    out = engine.predict(load_input(p, engine))
    first = out if isinstance(out, np.ndarray) else next(iter(out.values()))
    card = engine.card
    labels = card.labels if card is not None else None
    return _top_k(first[0], labels, top_k, output_step(engine.outputs))
