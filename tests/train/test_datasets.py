"""Dataset loaders on small local files, validation errors, splits and tf.data."""

from __future__ import annotations

import gzip
import math
import pickle
from pathlib import Path

import numpy as np
import pytest

from edgeship.errors import DatasetError
from edgeship.train import TrainConfig
from edgeship.train.datasets import load_dataset, make_tf_dataset

RNG = np.random.default_rng(0)


def _images(n: int, shape: tuple[int, ...] = (8, 8)) -> np.ndarray:
    return RNG.integers(0, 256, size=(n, *shape), dtype=np.uint8)


def _labels(n: int, k: int = 3) -> np.ndarray:
    return np.arange(n) % k


def test_digits_is_stratified_and_scaled() -> None:
    data = load_dataset(TrainConfig())
    assert data.input_shape == (8, 8, 1)
    assert data.x_train.dtype == np.float32
    # the splits partition the installed dataset with the configured fractions (the held-out
    # share rounded up, as scikit-learn does), not sizes copied from one version
    from sklearn.datasets import load_digits

    config, total = TrainConfig(), len(load_digits().target)
    test = math.ceil(total * config.test_split)
    val = math.ceil((total - test) * config.validation_split)
    assert data.split_sizes() == {"train": total - test - val, "validation": val, "test": test}
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0
    assert data.labels == tuple(str(i) for i in range(10))
    # stratified: every class is in the test split in proportion (~36 each)
    counts = np.bincount(data.y_test, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38
    pre = data.preprocessing()
    assert pre["scale"] == 1 / 16 and pre["color_mode"] == "grayscale"


def test_digits_sequence_is_rows_as_steps() -> None:
    data = load_dataset(TrainConfig(dataset="digits-seq", recipe="lstm"))
    assert data.kind == "sequence" and data.input_shape == (8, 8)
    assert data.preprocessing()["layout"] == "NTC"


def test_splits_depend_on_the_seed() -> None:
    a = load_dataset(TrainConfig(seed=0, max_samples=100))
    b = load_dataset(TrainConfig(seed=0, max_samples=100))
    c = load_dataset(TrainConfig(seed=1, max_samples=100))
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    assert len(a.x_train) + len(a.x_val) == 100


def test_npz_with_test_split_and_class_names(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(
        path,
        x_train=_images(60),
        y_train=_labels(60),
        x_test=_images(12),
        y_test=_labels(12),
        class_names=np.array(["a", "b", "c"]),
    )
    data = load_dataset(TrainConfig(dataset=f"npz:{path}"))
    assert data.labels == ("a", "b", "c")
    assert data.input_shape == (8, 8, 1)
    assert len(data.x_test) == 12
    assert data.scale == pytest.approx(1 / 255)
    assert data.x_train.max() <= 1.0


def test_npz_one_hot_labels_and_rgb(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    y = np.eye(3)[_labels(40)]
    np.savez(path, x_train=_images(40, (8, 8, 3)).astype(np.float32) / 255, y_train=y)
    data = load_dataset(TrainConfig(dataset=f"npz:{path}"))
    assert data.input_shape == (8, 8, 3) and data.color_mode == "rgb"
    assert data.scale == 1.0 and data.num_classes == 3


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x_train": _images(20)}, "lacks array(s) ['y_train']"),
        ({"x_train": _images(20), "y_train": _labels(19)}, "20 inputs but 19 labels"),
        ({"x_train": _images(20, (64,)), "y_train": _labels(20)}, "Expected image data"),
        (
            {"x_train": _images(20), "y_train": _labels(20), "class_names": np.array(["a", "b"])},
            "labels must be integers in 0..1 (2 classes). Got values from 0 to 2",
        ),
        ({"x_train": _images(20), "y_train": _labels(20) - 1}, "Got values from -1 to 1"),
        ({"x_train": _images(20), "y_train": _labels(20) + 0.5}, "labels must be whole numbers"),
        (
            {
                "x_train": _images(20),
                "y_train": _labels(20),
                "x_test": _images(5, (9, 9)),
                "y_test": _labels(5),
            },
            "test inputs have shape (9, 9, 1), train inputs (8, 8, 1)",
        ),
    ],
)
def test_npz_bad_content(tmp_path: Path, arrays: dict, message: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError) as info:
        load_dataset(TrainConfig(dataset=f"npz:{path}"))
    assert message in str(info.value)


def test_npz_corrupt_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.npz"
    path.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(DatasetError, match=r"Cannot read .*corrupt.npz as .npz"):
        load_dataset(TrainConfig(dataset=f"npz:{path}"))
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(TrainConfig(dataset=f"npz:{tmp_path / 'nope.npz'}"))


def _write_png(path: Path, value: int, channels: int = 3) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (10, 12, 3) if channels == 3 else (10, 12)
    Image.fromarray(np.full(shape, value, dtype=np.uint8)).save(path)


def test_image_folder(tmp_path: Path) -> None:
    for cls, value in (("cat", 10), ("dog", 200)):
        for i in range(6):
            _write_png(tmp_path / cls / f"{i}.png", value + i)
    data = load_dataset(TrainConfig(dataset=f"dir:{tmp_path}"))
    assert data.labels == ("cat", "dog")
    assert data.input_shape == (10, 12, 3)
    assert data.flip_ok is True
    total = sum(data.split_sizes().values())
    assert total == 12
    resized = load_dataset(TrainConfig(dataset=f"dir:{tmp_path}", image_size=(16, 16)))
    assert resized.input_shape == (16, 16, 3)


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="holds 0 class folder"):
        load_dataset(TrainConfig(dataset=f"dir:{tmp_path}"))
    (tmp_path / "cat").mkdir()
    (tmp_path / "dog").mkdir()
    _write_png(tmp_path / "cat" / "0.png", 1)
    with pytest.raises(DatasetError, match=r"Class folder\(s\) \['dog'\] .* hold no images"):
        load_dataset(TrainConfig(dataset=f"dir:{tmp_path}"))
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(TrainConfig(dataset=f"dir:{tmp_path / 'missing'}"))


def test_mnist_from_the_keras_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "datasets"
    cache.mkdir()
    np.savez(
        cache / "mnist.npz",
        x_train=_images(50, (28, 28)),
        y_train=_labels(50, 10),
        x_test=_images(20, (28, 28)),
        y_test=_labels(20, 10),
    )
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    data = load_dataset(TrainConfig(dataset="mnist"))
    assert data.input_shape == (28, 28, 1) and data.num_classes == 10
    assert len(data.x_test) == 20


def _idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_from_the_keras_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    _idx(folder / "train-images-idx3-ubyte.gz", _images(30, (28, 28)))
    _idx(folder / "train-labels-idx1-ubyte.gz", _labels(30, 10))
    _idx(folder / "t10k-images-idx3-ubyte.gz", _images(10, (28, 28)))
    _idx(folder / "t10k-labels-idx1-ubyte.gz", _labels(10, 10))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    data = load_dataset(TrainConfig(dataset="fashion_mnist"))
    assert data.labels[0] == "T-shirt/top" and data.input_shape == (28, 28, 1)


def test_cifar10_from_the_keras_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "datasets" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": _images(10, (3072,)), b"labels": list(_labels(10, 10))}
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    data = load_dataset(TrainConfig(dataset="cifar10"))
    assert data.input_shape == (32, 32, 3) and data.labels[0] == "airplane"
    assert len(data.x_test) == 10 and data.flip_ok


def test_keras_dataset_offline_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    # simulate no network (as here): the download fails and the error says where the file goes
    monkeypatch.setattr("keras.src.datasets.mnist.get_file", _no_network)
    with pytest.raises(DatasetError) as info:
        load_dataset(TrainConfig(dataset="mnist"))
    assert f"put the Keras dataset file at {tmp_path / 'datasets' / 'mnist.npz'}" in str(info.value)


def _no_network(*args: object, **kwargs: object) -> None:
    raise OSError("URL fetch failure: network unreachable")


def test_tf_dataset_batches_and_shuffles() -> None:
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10)
    ds = make_tf_dataset(x, y, 4, training=True, seed=0)
    batches = [b[1].numpy().tolist() for b in ds]
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(v for b in batches for v in b) == list(range(10))
    plain = [b[1].numpy().tolist() for b in make_tf_dataset(x, y, 4, training=False)]
    assert [v for b in plain for v in b] == list(range(10))
