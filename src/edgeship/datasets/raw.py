"""Raw dataset sources: scikit-learn digits, the Keras dataset cache, ``.npz`` files, folders.

Each loader returns a :class:`RawData` with numpy arrays exactly as stored (no scaling, no
splitting); :mod:`edgeship.datasets.splits` validates, scales and splits them.

The Keras datasets (``mnist``, ``fashion_mnist``, ``cifar10``) are read from the Keras cache
(``$KERAS_HOME/datasets`` or ``~/.keras/datasets``) when the file is there, and otherwise
downloaded by ``keras.datasets``; without a network the error names the file to put in place.
"""

from __future__ import annotations

import gzip
import os
import pickle
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeship.errors import DatasetError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")

FASHION_FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)
FASHION_LABELS = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CIFAR10_LABELS = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


@dataclass(frozen=True)
class RawData:
    """Arrays as stored plus what is known about them.

    Attributes:
        x_train: training inputs.
        y_train: training labels (integers, or one-hot rows).
        x_test: test inputs, or None when the source has no test split.
        y_test: test labels, or None.
        labels: class names, or None to use "0".."K-1".
        scale: factor that maps stored values to [0, 1] (e.g. 1/255, 1/16).
        kind: ``"image"`` or ``"sequence"``.
        flip_ok: horizontal flips keep the class (photos yes, digits no).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    labels: tuple[str, ...] | None = None
    scale: float = 1.0
    kind: str = "image"
    flip_ok: bool = False


def keras_cache_dir() -> Path:
    """The folder where ``keras.datasets`` keeps downloaded files."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def load_digits() -> RawData:
    """scikit-learn's 1,797 8x8 digits (values 0..16), shipped with scikit-learn."""
    from edgeship._lazy import require

    sk_datasets = require("sklearn.datasets", "train", "load the digits dataset")
    bunch = sk_datasets.load_digits()
    return RawData(
        x_train=np.asarray(bunch.images, dtype=np.float32),
        y_train=np.asarray(bunch.target, dtype=np.int64),
        labels=tuple(str(i) for i in range(10)),
        scale=1.0 / 16.0,
    )


def load_digits_sequence() -> RawData:
    """Digits read row by row: 8 time steps of 8 features each."""
    raw = load_digits()
    return RawData(raw.x_train, raw.y_train, labels=raw.labels, scale=raw.scale, kind="sequence")


def load_mnist(name: str = "mnist") -> RawData:
    """MNIST or Fashion-MNIST: 28x28 grayscale, values 0..255."""
    cache = keras_cache_dir()
    if name == "mnist":
        local = cache / "mnist.npz"
        if local.is_file():
            arrays = _read_npz(local, ("x_train", "y_train", "x_test", "y_test"))
            data = tuple(arrays[k] for k in ("x_train", "y_train", "x_test", "y_test"))
        else:
            data = _download(name, f"{local}")
        labels = None
    else:
        folder = cache / "fashion-mnist"
        if all((folder / f).is_file() for f in FASHION_FILES):
            data = _read_fashion(folder)
        else:
            data = _download(name, f"{folder}/ (the 4 files {', '.join(FASHION_FILES)})")
        labels = FASHION_LABELS
    x_train, y_train, x_test, y_test = data
    return RawData(x_train, y_train, x_test, y_test, labels=labels, scale=1.0 / 255.0)


def load_cifar10() -> RawData:
    """CIFAR-10: 32x32 RGB photos, values 0..255."""
    cache = keras_cache_dir()
    folder = cache / "cifar-10-batches-py"
    archive = cache / "cifar-10-batches-py.tar.gz"
    if not folder.is_dir() and archive.is_file():
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(cache, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DatasetError(f"Cannot extract {archive}: {exc}. Re-download it.") from exc
    if folder.is_dir():
        data = _read_cifar_folder(folder)
    else:
        data = _download("cifar10", f"{archive} (or its extracted folder {folder}/)")
    x_train, y_train, x_test, y_test = data
    return RawData(
        x_train, y_train, x_test, y_test, labels=CIFAR10_LABELS, scale=1.0 / 255.0, flip_ok=True
    )


def load_npz(path: str) -> RawData:
    """An ``.npz`` with ``x_train``, ``y_train`` and optionally ``x_test``, ``y_test``,
    ``class_names`` (strings) and ``kind`` (``"sequence"`` marks ``(N, T, F)`` inputs as
    sequences; otherwise ``(N, H, W)`` is grayscale images). uint8 inputs are scaled by
    1/255; float inputs are used as is. Labels are class ids ``(N,)`` or one-hot ``(N, K)``.
    """
    p = Path(path)
    arrays = _read_npz(p, ("x_train", "y_train"))
    x_train = arrays["x_train"]
    has_test = "x_test" in arrays and "y_test" in arrays
    names = arrays.get("class_names")
    kind = (
        "sequence" if x_train.ndim == 3 and str(arrays.get("kind", "")) == "sequence" else "image"
    )
    return RawData(
        x_train=x_train,
        y_train=arrays["y_train"],
        x_test=arrays["x_test"] if has_test else None,
        y_test=arrays["y_test"] if has_test else None,
        labels=tuple(str(n) for n in names.tolist()) if names is not None else None,
        scale=1.0 / 255.0 if x_train.dtype == np.uint8 else 1.0,
        kind=kind,
    )


def load_image_folder(
    path: str, image_size: tuple[int, int] | None = None, seed: int = 0
) -> RawData:
    """One sub-folder per class of image files, read with ``image_dataset_from_directory``."""
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"Dataset folder {root} does not exist. Expected dir:PATH to a folder.")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files = {
        c: [f for f in sorted((root / c).iterdir()) if f.suffix.lower() in IMAGE_EXTENSIONS]
        for c in classes
    }
    if len(classes) < 2 or sum(map(len, files.values())) == 0:
        raise DatasetError(
            f"Dataset folder {root} holds {len(classes)} class folder(s) with "
            f"{sum(map(len, files.values()))} image(s). Expected one sub-folder per class "
            f"(at least 2) with {'/'.join(IMAGE_EXTENSIONS)} files, e.g. {root}/cat/1.png."
        )
    empty = [c for c, fs in files.items() if not fs]
    if empty:
        raise DatasetError(
            f"Class folder(s) {empty} in {root} hold no images. Expected at least one "
            f"{'/'.join(IMAGE_EXTENSIONS)} file per class; remove the folder or add images."
        )
    import keras
    import tensorflow as tf

    first = next(fs[0] for fs in files.values() if fs)
    try:
        probe = tf.io.decode_image(tf.io.read_file(str(first)), expand_animations=False)
    except tf.errors.OpError as exc:
        raise DatasetError(f"Cannot decode image {first}: {exc.message}") from exc
    channels = int(probe.shape[-1])
    size = image_size or (int(probe.shape[0]), int(probe.shape[1]))
    color_mode = "grayscale" if channels == 1 else "rgb"
    try:
        ds = keras.utils.image_dataset_from_directory(
            str(root),
            labels="inferred",
            label_mode="int",
            class_names=classes,
            color_mode=color_mode,
            image_size=size,
            batch_size=None,
            shuffle=False,
            seed=seed,
            verbose=False,
        )
        xs, ys = [], []
        for image, label in ds.as_numpy_iterator():
            xs.append(image)
            ys.append(label)
    except (tf.errors.OpError, ValueError) as exc:
        raise DatasetError(f"Cannot read images under {root}: {exc}") from exc
    return RawData(
        x_train=np.stack(xs).astype(np.float32),
        y_train=np.asarray(ys, dtype=np.int64),
        labels=tuple(classes),
        scale=1.0 / 255.0,
        flip_ok=True,
    )


def _read_npz(path: Path, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DatasetError(f"Dataset file {path} does not exist. Expected an .npz file.")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(
            f"Cannot read {path} as .npz ({exc}). Expected a file written by numpy.savez "
            f"with arrays {', '.join(required)}."
        ) from exc
    missing = [k for k in required if k not in arrays]
    if missing:
        raise DatasetError(
            f"{path} lacks array(s) {missing}. Expected {', '.join(required)}; got "
            f"{sorted(arrays)}."
        )
    return arrays


def _download(name: str, where: str) -> tuple[np.ndarray, ...]:
    import keras

    loader = getattr(keras.datasets, name)
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as exc:  # any download/network/extract failure
        raise DatasetError(
            f"Cannot load the {name} dataset: the download failed ({type(exc).__name__}: "
            f"{exc}). Without a network, put the Keras dataset file at {where} "
            f"(set KERAS_HOME to use another cache folder), or use npz:PATH with "
            f"x_train/y_train/x_test/y_test arrays."
        ) from exc
    return x_train, y_train, x_test, y_test


def _read_idx(path: Path) -> np.ndarray:
    """Read one gzip'd IDX file (MNIST format)."""
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"Cannot read {path} as gzip'd IDX data: {exc}") from exc
    if len(data) < 8 or data[2] != 0x08:
        raise DatasetError(f"{path} is not an IDX file of unsigned bytes.")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DatasetError(f"{path} is truncated: header says {dims}, got {body.size} bytes.")
    return body.reshape(dims)


def _read_fashion(folder: Path) -> tuple[np.ndarray, ...]:
    y_train, x_train, y_test, x_test = (_read_idx(folder / f) for f in FASHION_FILES)
    return x_train, y_train, x_test, y_test


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    # The CIFAR-10 python release is a pickle; this reads the user's own Keras cache file,
    # exactly as keras.datasets.cifar10 does.
    try:
        with open(path, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (OSError, EOFError, KeyError, pickle.UnpicklingError, TypeError) as exc:
        raise DatasetError(f"Cannot read CIFAR-10 batch {path}: {exc!r}") from exc
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _read_cifar_folder(folder: Path) -> tuple[np.ndarray, ...]:
    train = [_read_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = _read_cifar_batch(folder / "test_batch")
    x_train = np.concatenate([b[0] for b in train])
    y_train = np.concatenate([b[1] for b in train])
    return x_train, y_train, x_test, y_test
