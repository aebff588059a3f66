"""Typed errors raised by edgeship.

Every error says what failed, what was expected, what was got and how to fix it. Each class
also subclasses the matching builtin (``ValueError``, ``RuntimeError``, ``ImportError``,
``FileNotFoundError``) so callers that catch builtins keep working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgeship.manifest import Manifest


def opt_in(flag: str, keyword: str) -> str:
    """How to ask for something on purpose, for both the command line and Python, e.g.
    ``pass --force (force=True in Python)``: one wording in every message."""
    return f"pass {flag} ({keyword}=True in Python)"


class EdgeshipError(Exception):
    """Base class of every error edgeship raises on purpose."""


class InvalidInputError(EdgeshipError, ValueError):
    """Data given to a model or a command does not match what it expects."""


class ConfigError(EdgeshipError, ValueError):
    """An option, setting or config file is invalid."""


class DatasetError(EdgeshipError, ValueError):
    """A dataset cannot be found, read or used."""


class ModelLoadError(EdgeshipError, ValueError):
    """A model or artifact file is missing, corrupt or of the wrong format."""


class MissingModuleError(ModelLoadError):
    """A model names classes from a Python module that is not installed (a layer library)."""


class IntegrityError(ModelLoadError):
    """An artifact's sha256 does not match the one recorded in its manifest."""


class BackendError(EdgeshipError, RuntimeError):
    """An inference backend, delegate or execution provider failed or is unavailable."""


class UnsafeLoadWarning(UserWarning):
    """A Keras model is loaded with safe mode off: code stored in the file will run."""


class ProviderFallbackWarning(UserWarning):
    """An execution provider of a preference list was skipped; a later one runs the model."""


class ConversionError(EdgeshipError, RuntimeError):
    """A converter failed for one or more variants."""


class ParityError(EdgeshipError, RuntimeError):
    """One or more converted artifacts disagree with the source model beyond tolerance."""

    def __init__(
        self, message: str, failures: list[str] | None = None, manifest: Manifest | None = None
    ) -> None:
        super().__init__(message)
        self.failures = list(failures or [])
        #: The manifest written (every variant, the failed ones included), when there is one.
        self.manifest = manifest


class TrainingError(EdgeshipError, RuntimeError):
    """Training failed or cannot start with the given settings."""


class BenchError(EdgeshipError, RuntimeError):
    """A benchmark configuration failed to run."""


class FleetError(BenchError):
    """A device cluster cannot be reached or cannot run what was asked of it."""


class ArtifactExistsError(EdgeshipError, FileExistsError):
    """An output file or directory already holds results and ``--force`` was not given."""


class MissingDependencyError(EdgeshipError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""


class McuTargetError(ConversionError):
    """A model cannot be built for the microcontroller target (TFLite Micro), e.g. a
    dynamic-range model."""


class UnsupportedOperatorError(McuTargetError):
    """The model uses operators the target runtime has no kernel for; ``operators`` names them."""

    def __init__(self, message: str, operators: list[str] | None = None) -> None:
        super().__init__(message)
        self.operators = list(operators or [])


class BoardBudgetError(McuTargetError):
    """A microcontroller artifact needs more RAM (tensor arena) or flash than the board's
    budget; ``what`` is ``"arena"`` or ``"flash"``, ``got`` and ``budget`` are bytes."""

    def __init__(self, message: str, what: str, got: int, budget: int) -> None:
        super().__init__(message)
        self.what, self.got, self.budget = what, got, budget
