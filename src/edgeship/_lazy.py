"""Import optional dependencies on first use, with an install hint when they are missing."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from edgeship.errors import MissingDependencyError


def require(module: str, extra: str, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the pip extra.

    Args:
        module: dotted module name, e.g. ``"onnxruntime"``.
        extra: the edgeship extra that installs it, e.g. ``"onnx"``.
        purpose: what it is needed for, used in the message.

    Returns:
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        why = f" to {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"'{module}' is needed{why} but is not installed ({exc}). "
            f"Install it with: pip install 'edgeship[{extra}]'"
        ) from exc


def is_available(module: str) -> bool:
    """Return True when ``module`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
