"""Immutable records without dataclasses: their methods are compiled with the module (a
dataclass compiles its methods when the module is imported, a cost on the runtime's cold start)."""

from __future__ import annotations

from typing import Any, TypeVar

R = TypeVar("R", bound="Frozen")


class Frozen:
    """A record whose attributes (its ``__slots__``, which are its constructor's arguments) are
    set once; compared by :attr:`_compared`."""

    __slots__ = ()
    _compared: tuple[str, ...] = ()

    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; use replace() for a copy.")

    def replace(self: R, **changes: Any) -> R:
        """A copy with ``changes`` (constructor arguments) applied."""
        # a Frozen record's fields are its slots; a Value (no slots of its own) has _compared
        names: tuple[str, ...] = type(self).__slots__ or self._compared
        values = {k: getattr(self, k) for k in names}
        return type(self)(**(values | changes))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self._compared)

    __hash__ = None  # type: ignore[assignment]  # records hold dicts

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._compared)
        return f"{type(self).__name__}({fields})"


class Value(Frozen):
    """A :class:`Frozen` record that behaves as a frozen dataclass does: hashed by its fields
    and holding them in a ``__dict__``, so that it pickles and copies as one. Its fields
    (:attr:`_compared`) are the attributes its class body annotates, in order: annotate them in
    the constructor's order."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # inspect.get_annotations would import inspect, a cost on the start path this avoids
        cls._compared = tuple(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, k) for k in self._compared)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]  # same type

    def __hash__(self) -> int:  # type: ignore[override]  # Frozen records are unhashable
        return hash(self._values())
