"""Pipeline settings: config files, flag overrides, validation, and the resume stamps."""

from __future__ import annotations

import pytest

from edgeship.errors import ConfigError
from edgeship.pipeline import DEFAULT_VARIANTS, PipelineConfig, coerce, load_config_file
from edgeship.pipeline.resume import is_fresh, write_stamp


def test_toml_file_then_flags_override(tmp_path):
    cfg_file = tmp_path / "p.toml"
    cfg_file.write_text('[pipeline]\nrecipe = "lenet5"\nepochs = 3\nthreads = [1, 4]\n')
    config = coerce(PipelineConfig(), load_config_file(cfg_file))
    assert (config.recipe, config.epochs, config.threads) == ("lenet5", 3, (1, 4))
    config = coerce(config, {"epochs": 7, "variants": "tflite-int8, onnx-fp32"})
    assert config.epochs == 7
    assert config.variants == ("tflite-int8", "onnx-fp32")
    assert coerce(config, {"variants": "all"}).variants == DEFAULT_VARIANTS


def test_unknown_setting_is_named(tmp_path):
    cfg_file = tmp_path / "p.toml"
    cfg_file.write_text("epoch = 3\n")
    with pytest.raises(ConfigError, match=r"Unknown pipeline setting\(s\) \['epoch'\]"):
        coerce(PipelineConfig(), load_config_file(cfg_file))


def test_bad_values_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="max_accuracy_drop is in percentage points"):
        PipelineConfig(max_accuracy_drop=-1)
    with pytest.raises(ConfigError, match="threads expects integers"):
        coerce(PipelineConfig(), {"threads": "one,two"})
    with pytest.raises(ConfigError, match=r"Unknown variant\(s\) \['tflite-fp99'\]"):
        coerce(PipelineConfig(), {"variants": "tflite-int8,tflite-fp99"})
    with pytest.raises(ConfigError, match=r"Unknown backend\(s\) \['tensorrt'\]"):
        coerce(PipelineConfig(), {"backends": "litert,tensorrt"})
    with pytest.raises(ConfigError, match="bench_cold must be >= 0"):
        PipelineConfig(bench_cold=-1)
    for key, value, expected in (
        ("epochs", "one", "an integer"),
        ("seed", 1.5, "an integer"),
        ("max_latency_ms", "fast", "a finite number or nothing"),
        ("max_accuracy_drop", float("nan"), "a finite number"),
        ("keras_baseline", "no", "true or false"),
        ("model", 5, "a string or nothing"),
        ("variants", 5, "a list or a comma-separated string"),
    ):
        with pytest.raises(ConfigError, match=f"Pipeline setting {key} expects {expected}"):
            coerce(PipelineConfig(), {key: value})
    assert coerce(PipelineConfig(), {"epochs": 3.0, "max_size_mb": 1}).epochs == 3
    bad = tmp_path / "p.toml"
    bad.write_text("epochs = [")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config_file(bad)
    with pytest.raises(ConfigError, match=r"must end in \.toml, \.yaml, \.yml or \.json"):
        load_config_file(tmp_path.joinpath("p.ini").write_text("") or tmp_path / "p.ini")


def test_yaml_config(tmp_path):
    cfg_file = tmp_path / "p.yaml"
    cfg_file.write_text("pipeline:\n  max_latency_ms: 0.5\n  backends: [litert]\n")
    config = coerce(PipelineConfig(), load_config_file(cfg_file))
    assert config.max_latency_ms == 0.5
    assert config.backends == ("litert",)


def test_a_runs_config_json_repeats_it(tmp_path):
    """config.json (written by every run) is a config file: every setting comes back."""
    from edgeship.fileio import atomic_write_json

    config = coerce(
        PipelineConfig(),
        {"recipe": "lenet5", "threads": "1,4", "max_size_mb": 0.5, "bench_cold": 0, "seed": 7},
    )
    atomic_write_json(tmp_path / "config.json", config.to_file_dict())
    assert coerce(PipelineConfig(), load_config_file(tmp_path / "config.json")) == config
    (tmp_path / "bench.json").write_text('{"schema": "edgeship.bench/1", "results": []}')
    with pytest.raises(ConfigError, match=r"is not a pipeline config\.json"):
        load_config_file(tmp_path / "bench.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        load_config_file(tmp_path / "broken.json")


def test_resume_stamp_tracks_inputs_settings_and_outputs(tmp_path):
    src = tmp_path / "in.txt"
    dst = tmp_path / "out.txt"
    src.write_text("a")
    dst.write_text("b")
    settings = {"epochs": 1}
    assert not is_fresh(tmp_path, "s", [src], [dst], settings)
    write_stamp(tmp_path, "s", [src], [dst], settings, 1.0)
    assert is_fresh(tmp_path, "s", [src], [dst], settings)
    assert not is_fresh(tmp_path, "s", [src], [dst], {"epochs": 2})
    src.write_text("changed")
    assert not is_fresh(tmp_path, "s", [src], [dst], settings)
    write_stamp(tmp_path, "s", [src], [dst], settings, 1.0)
    dst.unlink()
    assert not is_fresh(tmp_path, "s", [src], [dst], settings)


def test_a_bad_model_fails_before_the_run_writes_anything(tmp_path):
    from edgeship.errors import ModelLoadError
    from edgeship.pipeline import run_pipeline

    (tmp_path / "text.keras").write_text("hello")
    config = coerce(PipelineConfig(), {"model": str(tmp_path / "text.keras")})
    with pytest.raises(ModelLoadError, match=r"not a valid \.keras file"):
        run_pipeline(config.replace(out=str(tmp_path / "run")))
    (tmp_path / "trained").mkdir()
    (tmp_path / "trained" / "model.keras").write_text("x")
    config = config.replace(model=str(tmp_path / "trained"), out=str(tmp_path / "run"))
    with pytest.raises(ModelLoadError, match=r"It holds model\.keras: pass"):
        run_pipeline(config)
    assert not (tmp_path / "run").exists()


def test_a_card_from_another_dataset_is_not_reused(digits_model_dir):
    """--model with --dataset: the card beside the model counts only if made on that data."""
    from edgeship.pipeline.runner import _card_for_dataset

    assert _card_for_dataset(digits_model_dir, "digits")
    assert not _card_for_dataset(digits_model_dir, "mnist")


def test_board_budget_becomes_convert_options_and_is_checked_before_training():
    config = PipelineConfig(board="cortex-m4-256k", max_arena_kb=64)
    assert config.mcu_options() == {"board": "cortex-m4-256k", "max_arena_kb": 64}
    assert PipelineConfig().mcu_options() == {}
    with pytest.raises(ConfigError, match=r"Unknown board 'nrf52'\. Expected one of: cortex-m0"):
        PipelineConfig(board="nrf52")
