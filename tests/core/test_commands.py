"""The command line: the commands a pipeline report prints parse, and the runtime flags have
one syntax in every command."""

from __future__ import annotations

import shlex

import pytest

from edgeship.cli import pipeline as pipeline_cli
from edgeship.cli.bench import parse_provider
from edgeship.cli.main import build_parser
from edgeship.errors import ConfigError
from edgeship.fileio import atomic_write_json
from edgeship.pipeline.config import PipelineConfig
from edgeship.pipeline.summary import reproduce_commands
from edgeship.runtime_flags import AUTO_ORDER, BACKEND_NAMES, parse_key_values, parse_providers


def _parse(command: str):
    argv = shlex.split(command)
    assert argv[0] == "edgeship", command
    return argv[1], build_parser(argv[1]).parse_args(argv[1:])


CONFIGS = {
    "defaults": {"out": "runs/a b"},
    "budgets": {
        "out": "runs/tight",
        "variants": ("tflite-int8", "onnx-fp32"),
        "backends": ("onnxruntime",),
        "threads": (1, 4),
        "max_accuracy_drop": 0.5,
        "max_latency_ms": 0.05,
        "max_size_mb": 0.1,
        "target_runtime": "tflite-runtime==2.14",
        "epochs": 3,
    },
    "model": {"out": "runs/m", "model": "my models/m.keras"},
    "fleet": {"out": "runs/f", "cluster": "tcp://127.0.0.1:8786", "devices": ("cpu-a", "cpu-b")},
    "board": {"out": "runs/mcu", "board": "cortex-m4-256k", "max_arena_kb": 64.0},
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_reproduce_commands_of_a_report_parse_and_mean_the_run(name, tmp_path):
    config = PipelineConfig(**CONFIGS[name])
    exact, whole, *steps = reproduce_commands(config)
    command, args = _parse(exact)
    assert command == "pipeline"
    # the exact command reads the run's config.json: every setting comes back
    atomic_write_json(tmp_path / "config.json", config.to_file_dict())
    args.config = str(tmp_path / "config.json")
    assert pipeline_cli.resolve(args) == config.replace(out=f"{config.out}-rerun")
    command, args = _parse(whole)
    again = pipeline_cli.resolve(args)
    named = ("out", "model", "variants", "backends", "threads", "max_accuracy_drop")
    named += ("max_latency_ms", "max_size_mb", "target_runtime")
    named += ("board", "max_arena_kb", "max_flash_kb")
    named += () if config.model else ("recipe", "dataset", "epochs")
    assert {k: getattr(again, k) for k in named} == {k: getattr(config, k) for k in named}
    parsed = dict(_parse(step) for step in steps)
    assert sorted(parsed) == sorted(
        ["convert", "bench", "report"] + ([] if config.model else ["train"])
    )
    assert parsed["convert"].to == ",".join(config.variants)
    assert (parsed["convert"].board, parsed["convert"].max_arena_kb) == (
        config.board,
        config.max_arena_kb,
    )
    assert parsed["bench"].backend == ",".join(config.backends)
    assert parsed["bench"].threads == ",".join(map(str, config.threads))
    assert (parsed["bench"].cluster, parsed["bench"].device) == (
        (config.cluster, ",".join(config.devices)) if config.cluster else (None, None)
    )


def test_runtime_flags_have_one_syntax_in_predict_and_bench():
    flags = "--provider cuda,cpu --provider CUDAExecutionProvider:device_id=0;arena=x"
    flags += " --delegate gpu --delegate-option a=1 --delegate-option b=2"
    for command in ("predict m.onnx --input x.npy", "bench m.onnx"):
        _, args = _parse(f"edgeship {command} {flags} --backend onnxruntime")
        assert parse_providers(args.provider) == (
            "cuda", "cpu", ("CUDAExecutionProvider", {"device_id": "0", "arena": "x"})
        )  # fmt: skip
        assert parse_key_values(args.delegate_option) == {"a": "1", "b": "2"}
        assert (args.delegate, args.backend) == ("gpu", "onnxruntime")
    assert parse_providers([]) is None and parse_providers("cpu") == ("cpu",)
    assert parse_provider("cpu") == "cpu"


def test_several_backends_and_threads_where_a_command_measures_several():
    _, bench = _parse("edgeship bench m.onnx --backend litert,onnxruntime --threads 1,2")
    _, pipe = _parse("edgeship pipeline --backend litert,onnxruntime --threads 1,2")
    _, old = _parse("edgeship pipeline --backends litert,onnxruntime --threads 1,2")
    assert bench.backend == pipe.backend == old.backend == "litert,onnxruntime"
    assert pipeline_cli.resolve(pipe).backends == ("litert", "onnxruntime")
    _, serve = _parse("edgeship serve m.onnx --backend litert --threads 2")
    assert (serve.backend, serve.threads) == ("litert", 2)
    with pytest.raises(SystemExit):
        _parse("edgeship serve m.onnx --backend nope")
    assert BACKEND_NAMES == (
        "litert",
        "tflite-runtime",
        "tf-lite",
        "litert-compiled",
        "openvino",
        "tflm",
        "onnxruntime",
    )
    assert set(BACKEND_NAMES) == {n for names in AUTO_ORDER.values() for n in names}


def test_bad_runtime_flag_values_name_the_flag_and_the_form():
    with pytest.raises(ConfigError, match=r"--provider options are KEY=VALUE separated by ';'"):
        parse_providers(["cuda:device_id"])
    with pytest.raises(ConfigError, match=r"--delegate-option expects KEY=VALUE\. Got: 'x'"):
        parse_key_values(["x"])


def test_board_budgets_reach_convert_and_pipeline():
    from edgeship.cli import convert as convert_cli

    _, conv = _parse(
        "edgeship convert m.keras --out o --to tflm-int8 --board cortex-m4-256k --max-arena-kb 64"
    )
    assert convert_cli._options(conv) == {"board": "cortex-m4-256k", "max_arena_kb": 64.0}
    _, pipe = _parse("edgeship pipeline --board cortex-m0-32k --max-flash-kb 200")
    config = pipeline_cli.resolve(pipe)
    assert config.mcu_options() == {"board": "cortex-m0-32k", "max_flash_kb": 200.0}


def _help_examples(command: str) -> list[str]:
    """The example lines of ``edgeship COMMAND --help`` as printed."""
    text = _help_text(command)
    section = text.split("examples:\n", 1)[1]
    return [line for line in section.splitlines() if line.startswith("  ")]


def _help_text(command: str) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser(command).parse_args([command, "--help"])
    return out.getvalue()


COMMANDS = ("train", "card", "convert", "inspect", "predict", "bench", "report", "compare",
            "serve", "pipeline", "worker")  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_example_is_a_short_command_that_parses(command: str):
    """Examples keep their line continuations (no 150-column lines) and parse as shown."""
    lines = _help_examples(command)
    assert lines
    for line in lines:
        assert len(line) <= 100, f"{command} --help example line too long: {line!r}"
    joined = "\n".join(lines).replace("\\\n", " ")
    for line in joined.splitlines():
        if line.strip().startswith(f"edgeship {command}"):
            words = shlex.split(line, comments=True)
            build_parser(command).parse_args(words[1:])


def test_convert_takes_variants_as_pipeline_does() -> None:
    """`convert --variants` (the pipeline's spelling) is `--to`, not an unknown flag."""
    parser = build_parser("convert")
    to = parser.parse_args(["convert", "m.keras", "--out", "o", "--to", "tflm-int8"])
    variants = parser.parse_args(["convert", "m.keras", "--out", "o", "--variants", "tflm-int8"])
    assert to.to == variants.to == "tflm-int8"
