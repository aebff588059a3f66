"""Results from several devices (``edgeship bench --cluster``): grouping and side-by-side view."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgeship.bench.records import BenchResults, BenchRow, latency_value
from edgeship.bench.storage import row_key
from edgeship.errors import ConfigError

#: The table column that names a row's device.
DEVICE_COLUMN = ("device", "device")


def has_devices(rows: list[BenchRow]) -> bool:
    """Whether any row names the device it ran on."""
    return any(r.get("device") for r in rows)


def device_names(rows: list[BenchRow]) -> list[str]:
    """Device labels in the order they first appear."""
    return list(dict.fromkeys(str(r["device"]) for r in rows if r.get("device")))


def configuration(row: Mapping[str, object]) -> str:
    """A row's configuration without its device, e.g. ``tflite-int8/litert t1 b1``.

    ``row``: a :class:`~edgeship.bench.records.BenchRow`, or a row key as a dict.
    """
    text = f"{row.get('variant')}/{row.get('backend')} t{row.get('threads')} b{row.get('batch')}"
    if row.get("delegate"):
        text += f" [{row['delegate']}]"
    if row.get("scenario") not in (None, "single-stream"):
        text += f" {row['scenario']}"
    return text


def side_by_side(rows: list[BenchRow]) -> tuple[list[str], list[list[str]]]:
    """p50 latency (ms) of each configuration on each device.

    Returns:
        ``(header, body)``: header ``["configuration", "<device> p50 ms", ...]``; one body
        line per configuration, ``–`` where a device has no measured row.
    """
    names = device_names(rows)
    table: dict[str, dict[str, float]] = {}
    for row in rows:
        p50 = latency_value(row, "p50")
        if row.get("error") or not row.get("device") or p50 is None:
            continue
        table.setdefault(configuration(row), {})[str(row["device"])] = float(p50)
    header = ["configuration", *(f"{name} p50 ms" for name in names)]
    body = [
        [config, *(f"{per[n]:.4g}" if n in per else "–" for n in names)]
        for config, per in sorted(table.items())
    ]
    return header, body


def for_plots(rows: list[BenchRow]) -> list[BenchRow]:
    """Rows whose variant names carry their device, so plots tell devices apart."""
    return [_with_device(r) if r.get("device") else r for r in rows]


def _with_device(row: BenchRow) -> BenchRow:
    out = row.copy()
    out["variant"] = f"{row['device']}:{row.get('variant')}"
    return out


def keyed_rows(doc: BenchResults, device: str | None, which: str) -> dict[Any, BenchRow]:
    """Rows that ran, by :func:`row_key`; only ``device``'s rows (keyed without it) if given."""
    rows = [r for r in doc.get("results", []) if not r.get("error")]
    if device is None:
        return {row_key(r): r for r in rows}
    picked = {(*row_key(r)[:-1], None): r for r in rows if r.get("device") == device}
    if not picked:
        found = sorted({str(r.get("device")) for r in rows if r.get("device")})
        raise ConfigError(
            f"The {which} results have no measured row on device {device!r}. Expected one of: "
            f"{', '.join(found) or 'none (not a fleet run)'}."
        )
    return picked
