"""Moved to :mod:`edgeship.discovery` (bench uses it too); kept so old imports work."""

from edgeship.discovery import (
    ARTIFACT_SUFFIXES,
    MANIFEST_FILENAME,
    DiscoveryPolicy,
    discover,
    expand_artifacts,
)

__all__ = [
    "ARTIFACT_SUFFIXES", "MANIFEST_FILENAME", "DiscoveryPolicy", "discover", "expand_artifacts",
]  # fmt: skip
