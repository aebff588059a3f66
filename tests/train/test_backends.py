"""Training backends: each refusal is a typed error before any work, over the registry."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from edgeship.errors import ConfigError, MissingDependencyError
from edgeship.train import TrainConfig, train
from edgeship.train.backends import BACKEND_NAMES, BACKENDS, default_backend, get_backend

OTHERS = [name for name in BACKEND_NAMES if name != "tensorflow"]


class _Blocked:
    """A meta path finder for which ``name`` is not installed."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname == self.name or fullname.startswith(self.name + "."):
            raise ModuleNotFoundError(f"No module named {fullname!r}")


def test_every_backend_module_has_the_contract() -> None:
    for name in BACKEND_NAMES:
        module = get_backend(name)
        for attribute in (
            "check",
            "session",
            "make_strategy",
            "make_dataset",
            "jit_compile",
            "is_out_of_memory",
            "describe",
        ):
            assert callable(getattr(module, attribute)), (name, attribute)
        assert name == module.NAME


def test_unknown_backend_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"Unknown training backend 'mxnet'\. Expected one of: "):
        TrainConfig(backend="mxnet")


def test_default_backend_follows_keras_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert default_backend() == "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert TrainConfig().backend == "jax"


@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_a_backend_not_installed_names_its_extra(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = BACKENDS[name]
    monkeypatch.delitem(sys.modules, entry.import_name, raising=False)  # imported: installed
    monkeypatch.setattr(sys, "meta_path", [_Blocked(entry.import_name), *sys.meta_path])
    with pytest.raises(MissingDependencyError) as info:
        train(TrainConfig(backend=name, out=str(tmp_path / "run")))
    assert f"Training backend {name!r} needs the '{entry.import_name}' package" in str(info.value)
    assert f"pip install 'edgeship[{entry.extra}]'" in str(info.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", OTHERS)
def test_multi_worker_stays_tensorflows(name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Strategy 'multi-worker' is TensorFlow's") as info:
        train(TrainConfig(backend=name, strategy="multi-worker", out=str(tmp_path / "run")))
    assert f"backend {name!r} cannot train across machines" in str(info.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", OTHERS)
def test_refused_recipes_name_recipe_backend_and_why(name: str, tmp_path: Path) -> None:
    for recipe, why in get_backend(name).REFUSED_RECIPES.items():
        with pytest.raises(ConfigError) as info:
            train(TrainConfig(backend=name, recipe=recipe, out=str(tmp_path / "run")))
        assert str(info.value) == f"Recipe {recipe!r} cannot train on backend {name!r}: {why}."
    assert not (tmp_path / "run").exists()


def test_torch_refuses_jit_and_data_parallel(tmp_path: Path) -> None:
    out = str(tmp_path / "run")
    with pytest.raises(ConfigError, match=r"--jit \(XLA\) is not available on backend 'torch'"):
        train(TrainConfig(backend="torch", jit=True, out=out))
    with pytest.raises(
        ConfigError, match=r"Strategy 'mirrored' \(data parallel\) is not supported"
    ):
        train(TrainConfig(backend="torch", strategy="mirrored", out=out))
    assert not (tmp_path / "run").exists()


def test_tensorflow_refuses_nothing_the_config_accepts() -> None:
    get_backend("tensorflow").check(TrainConfig(backend="tensorflow", recipe="gan", jit=True))


def test_cli_backend_flag_reaches_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeship.cli.main import build_parser
    from edgeship.cli.train import config_from_args

    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    parser = build_parser()
    assert config_from_args(parser.parse_args(["train"])).backend == "tensorflow"
    args = parser.parse_args(["train", "--backend", "jax", "--strategy", "mirrored"])
    assert config_from_args(args).backend == "jax"


def test_pipeline_takes_a_training_backend() -> None:
    from edgeship.pipeline import PipelineConfig

    assert PipelineConfig(train_backend="jax").train_backend == "jax"
    with pytest.raises(ConfigError, match="Unknown training backend 'nope'"):
        PipelineConfig(train_backend="nope")
