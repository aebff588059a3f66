"""``manifest.json`` (schema ``edgeship.manifest/1``): what convert built and how well it did.

The one definition of the manifest that convert writes and runtime, bench, serve, pipeline and
the command line read. Standard library only (no numpy), so a device can read it.

Layout::

    {"schema": "edgeship.manifest/1", "created": ISO time, "source": {"path", "sha256", "kind"},
     "card": "edgeship.json" | null, "options": {...}, "target_runtime": str | null,
     "data": {"calibration": ..., "eval": ...}, "notes": [...],
     "variants": [{"name", "file", "sha256", "size_bytes", "status": "ok"|"failed", "params",
                   "parity": {...}, "runtimes": {"litert 2.3.0": "ok" | error}, "seconds",
                   "errors": [...], "route": route name, "fallbacks_tried": [{"route",
                   "errors"}]}],
     "versions": {package: version}}

``params.float_ops`` lists the operators a fallback route left in float;
``params.integer_inputs`` the integer inputs a full-integer TFLite variant kept as given.

Optional fields: ``data.calibration_range`` / ``data.eval_range`` (``{input: [min, max]}``),
``warnings`` (e.g. calibration data outside the eval data's range), per variant
``calibration_range`` (calibrated variants), ``target`` (the ``--target-runtime`` verdict),
``tensor_names`` (artifact name -> model name, :mod:`edgeship.runtime.names`),
``quantization`` and ``flags`` (:mod:`edgeship.convert.weights`), and
``parity.error_limits`` (``{"gate": bool, "exceeded": [...]}``: the error limits of the
variant, a gate without labels, reported beside the accuracy with them). Error strings are
kept whole; only the console cuts them.

Fields this module does not name (at either level) are kept in ``extra`` and written back in
their place, so a manifest read and written again is the same document.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from edgeship._records import Frozen
from edgeship.errors import ModelLoadError

MANIFEST_SCHEMA = "edgeship.manifest/1"
#: Schemas :meth:`Manifest.read` accepts (older ones are read into today's records).
READABLE_SCHEMAS = (MANIFEST_SCHEMA,)
MANIFEST_FILENAME = "manifest.json"
STATUS_OK = "ok"
STATUS_FAILED = "failed"
TFLITE_SUFFIX = ".tflite"
ONNX_SUFFIX = ".onnx"
#: File suffixes of the artifacts convert writes (and serve and bench look for).
ARTIFACT_SUFFIXES = (TFLITE_SUFFIX, ONNX_SUFFIX)
#: Suffixes a TFLite flatbuffer may carry.
TFLITE_SUFFIXES = (TFLITE_SUFFIX, ".lite")

_VARIANT_KEYS = ("name", "file", "status", "sha256", "size_bytes")
_MANIFEST_KEYS = ("schema", "source", "card", "target_runtime", "variants")


def _ordered(values: Mapping[str, Any], extra: Mapping[str, Any], order: Iterable[str]) -> dict:
    """``values`` and ``extra`` as one dict, keys in ``order`` first (where they were read)."""
    merged = {**values, **extra}
    out = {k: merged[k] for k in order if k in merged}
    out.update((k, v) for k, v in merged.items() if k not in out)
    return out


class VariantRecord(Frozen):
    """One variant of a manifest: its file, its verdict and everything convert measured.

    Attributes:
        name: the variant (e.g. ``tflite-int8``).
        file: the artifact's file name, beside the manifest (None when none was named).
        status: ``"ok"`` or ``"failed"``.
        sha256: of the artifact; None when none was written.
        size_bytes: of the artifact; None when none was written.
        extra: every other field (``parity``, ``params``, ``runtimes``, ``errors``, ``route``,
            and fields added later), kept as read.
    """

    __slots__ = ("extra", "file", "key_order", "name", "sha256", "size_bytes", "status")
    _compared = ("name", "file", "status", "sha256", "size_bytes", "extra")
    name: str
    file: str | None
    status: str
    sha256: str | None
    size_bytes: int | None
    extra: Mapping[str, Any]
    key_order: tuple[str, ...]

    def __init__(
        self,
        name: str,
        file: str | None,
        status: str = STATUS_FAILED,
        sha256: str | None = None,
        size_bytes: int | None = None,
        extra: Mapping[str, Any] | None = None,
        key_order: tuple[str, ...] = (),
    ) -> None:
        self._set(name=name, file=file, status=status, sha256=sha256, size_bytes=size_bytes)
        self._set(extra=dict(extra or {}), key_order=tuple(key_order))

    @property
    def ok(self) -> bool:
        """True when the variant passed every check."""
        return self.status == STATUS_OK

    @property
    def parity(self) -> Mapping[str, Any] | None:
        """The parity record (errors, top-1 agreement, accuracy delta), or None."""
        value = self.extra.get("parity")
        return value if isinstance(value, Mapping) else None

    @property
    def params(self) -> Mapping[str, Any]:
        """The conversion settings used (empty when none were recorded)."""
        value = self.extra.get("params")
        return value if isinstance(value, Mapping) else {}

    @property
    def errors(self) -> list[str]:
        """Why the variant failed (empty when it passed)."""
        return [str(e) for e in self.extra.get("errors") or []]

    @property
    def runtimes(self) -> Mapping[str, str]:
        """``{runtime and version: "ok" or why it failed}``, as checked at convert time."""
        value = self.extra.get("runtimes")
        return value if isinstance(value, Mapping) else {}

    @property
    def route(self) -> str | None:
        """The conversion route that built the artifact, when recorded."""
        value = self.extra.get("route")
        return value if isinstance(value, str) else None

    def get(self, key: str, default: Any = None) -> Any:
        """Any field by its JSON name (typed ones included)."""
        return self.to_dict().get(key, default)

    def with_fields(self, **fields: Any) -> VariantRecord:
        """A copy with ``fields`` set (JSON names; unknown ones go to ``extra``)."""
        return VariantRecord.from_dict({**self.to_dict(), **fields})

    def to_dict(self) -> dict[str, Any]:
        """The JSON record, keys in the order they were read."""
        values = {k: getattr(self, k) for k in _VARIANT_KEYS}
        return _ordered(values, self.extra, self.key_order)

    @classmethod
    def from_dict(cls, data: Any) -> VariantRecord:
        """Read one variant record.

        Raises:
            ModelLoadError: not a JSON object, or ``name``/``file`` of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise ModelLoadError(
                f"Expected each manifest variant to be a JSON object. Got: {data!r:.80}"
            )
        file = data.get("file")
        name = data.get("name", Path(file).stem if isinstance(file, str) else None)
        if not isinstance(name, str) or not isinstance(file, (str, type(None))):
            raise ModelLoadError(
                "Expected a manifest variant with a string 'name' (or 'file') and a string "
                "or null 'file'. "
                f"Got: name={data.get('name')!r}, file={file!r}."
            )
        size = data.get("size_bytes")
        sha = data.get("sha256")
        return cls(
            name=name,
            file=file,
            status=str(data.get("status", STATUS_FAILED)),
            sha256=sha if isinstance(sha, str) else None,
            size_bytes=size if isinstance(size, int) else None,
            extra={k: v for k, v in data.items() if k not in _VARIANT_KEYS},
            key_order=tuple(data),
        )


class Manifest(Frozen):
    """A convert output: the source model, the settings and one record per variant.

    Attributes:
        variants: one :class:`VariantRecord` per variant, in build order.
        schema: the schema string read (today's when built here).
        source: ``{"path", "sha256", "kind"}`` of the source model, when recorded.
        card: the model card's file name beside the artifacts, or None.
        target_runtime: the runtime the variants were built for, or None.
        extra: every other field (``created``, ``options``, ``data``, ``notes``,
            ``versions``...), kept as read.
        location: the file it was read from (None when built in memory).
    """

    __slots__ = (
        "card",
        "extra",
        "key_order",
        "location",
        "schema",
        "source",
        "target_runtime",
        "variants"
    )  # fmt: skip
    _compared = ("variants", "schema", "source", "card", "target_runtime", "extra")
    variants: tuple[VariantRecord, ...]
    schema: str
    source: Mapping[str, Any] | None
    card: str | None
    target_runtime: str | None
    extra: Mapping[str, Any]
    key_order: tuple[str, ...]
    location: Path | None

    def __init__(
        self,
        variants: Iterable[VariantRecord] = (),
        schema: str = MANIFEST_SCHEMA,
        source: Mapping[str, Any] | None = None,
        card: str | None = None,
        target_runtime: str | None = None,
        extra: Mapping[str, Any] | None = None,
        key_order: tuple[str, ...] = (),
        location: Path | None = None,
    ) -> None:
        self._set(variants=tuple(variants), schema=schema, source=source, card=card)
        self._set(target_runtime=target_runtime, extra=dict(extra or {}))
        self._set(key_order=tuple(key_order), location=location)

    def ok_variants(self) -> tuple[VariantRecord, ...]:
        """The variants that passed every check."""
        return tuple(v for v in self.variants if v.ok)

    def failed_variants(self) -> tuple[VariantRecord, ...]:
        """The variants that did not pass."""
        return tuple(v for v in self.variants if not v.ok)

    def variant(self, name: str) -> VariantRecord | None:
        """The record of variant ``name``, or None."""
        return next((v for v in self.variants if v.name == name), None)

    def for_file(self, filename: str) -> VariantRecord | None:
        """The record whose artifact is ``filename`` (a name or a path), or None."""
        base = Path(filename).name
        return next((v for v in self.variants if v.file and Path(v.file).name == base), None)

    def artifact_path(
        self, record: VariantRecord, directory: str | os.PathLike[str] | None = None
    ) -> Path:
        """Where ``record``'s artifact lies: in ``directory``, else beside the manifest.

        Raises:
            ModelLoadError: the record names no file.
        """
        if record.file is None:
            raise ModelLoadError(
                f"Variant {record.name!r} of {self.location or 'the manifest'} names no 'file'. "
                "Expected the artifact's file name, as 'edgeship convert' writes it."
            )
        if directory is None:
            directory = self.location.parent if self.location is not None else Path(".")
        return Path(directory) / record.file

    def ok_artifacts(self, directory: str | os.PathLike[str] | None = None) -> list[Path]:
        """Paths of the artifacts of the variants that passed."""
        return [self.artifact_path(v, directory) for v in self.ok_variants()]

    def with_variant(self, record: VariantRecord) -> Manifest:
        """A copy with ``record`` appended."""
        return self.replace(variants=(*self.variants, record))

    def to_dict(self) -> dict[str, Any]:
        """The JSON document, keys in the order they were read."""
        values: dict[str, Any] = {
            "schema": self.schema,
            "source": None if self.source is None else dict(self.source),
            "card": self.card,
            "target_runtime": self.target_runtime,
            "variants": [v.to_dict() for v in self.variants],
        }
        present = {*self.key_order, "schema", "variants"}
        if self.key_order:  # a document read from disk: do not add fields it lacked
            values = {k: v for k, v in values.items() if k in present}
        return _ordered(values, self.extra, self.key_order)

    def write(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write ``manifest.json`` atomically into ``out_dir``; returns its path."""
        from edgeship.fileio import atomic_write_json

        return atomic_write_json(Path(out_dir) / MANIFEST_FILENAME, self.to_dict())

    @classmethod
    def from_dict(
        cls, data: Any, *, require_schema: bool = True, where: str = "manifest"
    ) -> Manifest:
        """Read a manifest document.

        Args:
            data: the parsed JSON.
            require_schema: reject a document without a readable ``schema``.
            where: named in errors (e.g. the file).

        Raises:
            ModelLoadError: not an object, another schema, or malformed variants.
        """
        if require_schema:
            _check_schema(data)
        if not isinstance(data, Mapping):
            raise ModelLoadError(f"{where} is not a JSON object. Got: {type(data).__name__}.")
        variants = data.get("variants", [])
        if not isinstance(variants, list):
            raise ModelLoadError(
                f"{where}: expected 'variants' to be a list. Got: {type(variants).__name__}."
            )
        source = data.get("source")
        card = data.get("card")
        target = data.get("target_runtime")
        schema = data.get("schema")
        return cls(
            variants=tuple(VariantRecord.from_dict(v) for v in variants),
            schema=str(schema) if schema is not None else MANIFEST_SCHEMA,
            source=source if isinstance(source, Mapping) else None,
            card=card if isinstance(card, str) else None,
            target_runtime=target if isinstance(target, str) else None,
            extra={k: v for k, v in data.items() if k not in _MANIFEST_KEYS},
            key_order=tuple(data),
        )

    @classmethod
    def read(cls, path: str | os.PathLike[str], *, require_schema: bool = True) -> Manifest:
        """Read a manifest: a file, or ``manifest.json`` in a directory.

        Raises:
            ModelLoadError: missing file, bad JSON, another schema or malformed variants.
        """
        p = manifest_path(path)
        doc = read_manifest(p) if require_schema else _read_doc(p)
        return cls.from_dict(doc, require_schema=False, where=str(p)).replace(location=p)


def manifest_path(path: str | os.PathLike[str]) -> Path:
    """``path`` itself, or ``path/manifest.json`` when ``path`` is a directory."""
    p = Path(path)
    return p / MANIFEST_FILENAME if p.is_dir() else p


def _read_doc(p: Path) -> Any:
    if not p.is_file():
        raise ModelLoadError(
            f"No manifest at {p}. Expected '{MANIFEST_FILENAME}' from 'edgeship convert'."
        )
    import json

    try:
        with open(p, encoding="utf-8") as fh:
            return json.load(fh)
    except ValueError as exc:
        raise ModelLoadError(f"Manifest {p} is not valid JSON: {exc}") from exc


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a manifest's JSON document (a file, or ``manifest.json`` in a directory).

    Raises:
        ModelLoadError: missing file, bad JSON or another schema.
    """
    data = _read_doc(manifest_path(path))
    _check_schema(data)
    return data  # type: ignore[no-any-return]  # a dict: _check_schema said so


def _check_schema(data: Any) -> None:
    if not isinstance(data, dict) or data.get("schema") not in READABLE_SCHEMAS:
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ModelLoadError(f"Expected a manifest with schema '{MANIFEST_SCHEMA}'. Got: {got!r}.")


def variant_name(artifact: str | os.PathLike[str], sha256: str | None = None) -> str:
    """The variant an artifact file stands for: its name in the manifest beside it (when the
    manifest records this file, with this ``sha256`` when given), else the file name without
    the suffix (also when that manifest cannot be read)."""
    path = Path(artifact)
    if (path.parent / MANIFEST_FILENAME).is_file():
        try:
            record = Manifest.read(path.parent, require_schema=False).for_file(path.name)
        except (OSError, ModelLoadError):
            return path.stem
        if record is not None and (sha256 is None or record.sha256 == sha256):
            return record.name
    return path.stem


def write_manifest(out_dir: str | os.PathLike[str], manifest: Manifest | Mapping[str, Any]) -> Path:
    """Write ``manifest.json`` atomically into ``out_dir`` (a :class:`Manifest` or its dict)."""
    if not isinstance(manifest, Manifest):
        manifest = Manifest.from_dict(manifest)
    return manifest.write(out_dir)
