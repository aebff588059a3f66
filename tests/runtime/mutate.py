"""Deterministic mutations of a model file's bytes, for fuzzing the loader."""

from __future__ import annotations

import random

KINDS = ("truncate", "flip", "word", "splice", "zero", "random_tail", "duplicate")


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """Return ``(kind, mutated bytes)`` for one random mutation of ``data``."""
    kind = rng.choice(KINDS)
    buf = bytearray(data)
    n = len(buf)
    if kind == "truncate":
        return kind, bytes(buf[: rng.randrange(1, n)])
    if kind == "flip":
        for _ in range(rng.randint(1, 16)):
            buf[rng.randrange(n)] ^= 1 << rng.randrange(8)
    elif kind == "word":  # flatbuffer offsets and sizes are 4-byte little-endian words
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(0, n - 4) & ~3
            value = rng.choice([0, 0xFFFFFFFF, 0x7FFFFFFF, rng.randrange(1 << 32), n, n + 4])
            buf[pos : pos + 4] = value.to_bytes(4, "little")
    elif kind == "splice":
        a, b = sorted(rng.randrange(n) for _ in range(2))
        buf[a:b] = bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
    elif kind == "zero":
        a = rng.randrange(n)
        buf[a : a + rng.randint(1, 256)] = bytes(min(n - a, 256))[: len(buf[a : a + 256])]
    elif kind == "random_tail":
        keep = rng.randrange(8, max(9, n // 4))
        buf = buf[:keep] + bytearray(rng.randrange(256) for _ in range(n - keep))
    elif kind == "duplicate":
        a = rng.randrange(n)
        buf[a:a] = buf[a : a + rng.randint(1, 128)]
    return kind, bytes(buf)
