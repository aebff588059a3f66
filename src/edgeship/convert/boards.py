"""Microcontroller budgets: named board presets and the arena and flash limits they set.

Kept apart from :mod:`edgeship.convert.mcu` so that convert's options can check a budget
without importing the microcontroller target itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeship.errors import BoardBudgetError, ConfigError

KIB = 1024


@dataclass(frozen=True)
class Board:
    """A named board budget: RAM for the tensor arena, flash for the model."""

    ram_kb: int
    flash_kb: int
    description: str


#: Named presets for ``--board``.
BOARDS: dict[str, Board] = {
    "cortex-m0-32k": Board(32, 256, "Cortex-M0+ class, 32 KiB RAM / 256 KiB flash"),
    "cortex-m4-256k": Board(256, 1024, "Cortex-M4 class, 256 KiB RAM / 1 MiB flash"),
    "cortex-m7-512k": Board(512, 2048, "Cortex-M7 class, 512 KiB RAM / 2 MiB flash"),
    "esp32-s3": Board(512, 8192, "ESP32-S3 internal SRAM 512 KiB / 8 MiB flash"),
}


@dataclass(frozen=True)
class Budget:
    """The arena and flash limits a microcontroller artifact must fit (None: no limit)."""

    max_arena_kb: float | None = None
    max_flash_kb: float | None = None
    board: str | None = None

    @classmethod
    def from_settings(
        cls, board: str | None, max_arena_kb: float | None, max_flash_kb: float | None
    ) -> Budget:
        """A board preset's limits, each replaced by an explicit limit where one is given.

        Raises:
            ConfigError: an unknown board or a limit that is not a positive number.
        """
        for name, value in (("max_arena_kb", max_arena_kb), ("max_flash_kb", max_flash_kb)):
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise ConfigError(f"{name} must be a positive number of KiB. Got: {value!r}")
        if board is not None and board not in BOARDS:
            raise ConfigError(
                f"Unknown board {board!r}. Expected one of: {', '.join(BOARDS)} (or give "
                "--max-arena-kb / --max-flash-kb)."
            )
        preset = BOARDS[board] if board else None
        return cls(
            max_arena_kb if max_arena_kb is not None else (preset.ram_kb if preset else None),
            max_flash_kb if max_flash_kb is not None else (preset.flash_kb if preset else None),
            board,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "board": self.board,
            "max_arena_kb": self.max_arena_kb,
            "max_flash_kb": self.max_flash_kb,
        }

    def check(self, arena_bytes: int, flash_bytes: int) -> None:
        """Raise :class:`BoardBudgetError` for the first of arena and flash over budget."""
        where = f" of board {self.board}" if self.board else ""
        for what, got, limit, flag, fix in (
            ("arena", arena_bytes, self.max_arena_kb, "--max-arena-kb", "RAM"),
            ("flash", flash_bytes, self.max_flash_kb, "--max-flash-kb", "flash"),
        ):
            if limit is not None and got > limit * KIB:
                raise BoardBudgetError(
                    f"The model needs a {got / KIB:.1f} KiB {what} ({got} bytes) but the "
                    f"{what} budget{where} is {limit:g} KiB ({flag} {limit:g}). Expected "
                    f"{what} <= budget. Use a board with more {fix}, raise {flag}, or shrink "
                    "the model.",
                    what=what,
                    got=got,
                    budget=int(limit * KIB),
                )
