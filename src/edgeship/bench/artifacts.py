"""Which artifact files a benchmark runs: files as given, directories expanded."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from edgeship.errors import ConfigError
from edgeship.manifest import ARTIFACT_SUFFIXES


def expand_artifacts(items: Iterable[str]) -> list[str]:
    """Files as given; directories replaced by their .tflite and .onnx files (sorted).

    Raises:
        ConfigError: a path that does not exist, or a directory without artifacts.
    """
    out: list[str] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for suffix in ARTIFACT_SUFFIXES for p in path.glob(f"*{suffix}"))
            if not found:
                raise ConfigError(
                    f"{path} holds no .tflite or .onnx files. "
                    "Expected artifacts from 'edgeship convert'."
                )
            out += [str(p) for p in found]
        elif path.is_file():
            out.append(str(path))
        else:
            raise ConfigError(
                f"{path} does not exist. Expected a .tflite/.onnx file or a directory of them."
            )
    return out
