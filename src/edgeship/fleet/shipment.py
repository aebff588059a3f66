"""Files that travel to a device through the cluster, checked by sha256 on arrival."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from edgeship.errors import IntegrityError
from edgeship.fileio import atomic_write_bytes, not_a_file


@dataclass(frozen=True)
class Shipment:
    """One file's name, its sha256 at the sender, and its bytes.

    Attributes:
        name: file name on the device (no folders).
        sha256: hex digest taken where the file was read.
        data: the file's bytes.
    """

    name: str
    sha256: str
    data: bytes

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> Shipment:
        """Read ``path`` into a shipment."""
        p = Path(path)
        if not p.is_file():
            raise IntegrityError(f"Cannot ship {p}: it {not_a_file(p)}. Expected a file.")
        data = p.read_bytes()
        return cls(p.name, hashlib.sha256(data).hexdigest(), data)

    def unpack(self, folder: str | os.PathLike[str]) -> Path:
        """Check the bytes against :attr:`sha256`, then write them into ``folder``.

        Raises:
            IntegrityError: the bytes changed on the way; nothing is written.
        """
        got = hashlib.sha256(self.data).hexdigest()
        if got != self.sha256:
            raise IntegrityError(
                f"{self.name} changed in transit: it arrived with sha256 {got}, expected "
                f"{self.sha256} ({len(self.data)} bytes arrived). Nothing was measured; run "
                "again, and check the network and the device's memory and disk if it repeats."
            )
        return atomic_write_bytes(Path(folder) / Path(self.name).name, self.data)
