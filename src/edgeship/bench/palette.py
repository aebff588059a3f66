"""One colour per variant, assigned once per report and used by every figure in it.

The colours are fixed hex strings (no matplotlib needed to assign them): the strong
``tab10`` colours first, then their light ``tab20`` partners, both without grey. Grey and
black are kept for what is not a variant (backends, threads, batch sizes drawn as marker
shapes and line styles in the legends), so a legend entry in grey or black never reads as
a variant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Variant colours in the order they are handed out (repeated past the end).
COLOURS: tuple[str, ...] = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#dbdb8d",
    "#9edae5",
)
#: Colour of legend entries that stand for something other than a variant.
NEUTRAL = "#000000"
#: Face colour of those entries: hollow, so they are never mistaken for a variant's colour.
HOLLOW = "none"


@dataclass(frozen=True)
class Palette:
    """Variant name -> colour (``#rrggbb``), in the order the variants were given."""

    colours: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, variants: Iterable[str]) -> Palette:
        """A palette for ``variants`` in first-seen order (duplicates ignored)."""
        names = list(dict.fromkeys(str(v) for v in variants))
        return cls({n: COLOURS[i % len(COLOURS)] for i, n in enumerate(names)})

    def __getitem__(self, variant: str) -> str:
        """The variant's colour.

        Raises:
            KeyError: the variant was not in the palette (every figure of a report must
                draw only the variants the report's palette was made from).
        """
        return self.colours[variant]

    def __contains__(self, variant: object) -> bool:
        return variant in self.colours

    def extended(self, variants: Iterable[str]) -> Palette:
        """This palette with ``variants`` it lacks appended (existing colours kept)."""
        names = [*self.colours, *(v for v in dict.fromkeys(variants) if v not in self.colours)]
        kept = dict(self.colours)
        return Palette({n: kept.get(n, COLOURS[i % len(COLOURS)]) for i, n in enumerate(names)})


def palette_for(palette: Palette | None, variants: Sequence[str]) -> Palette:
    """The report's palette (made once per report), or one for these variants alone."""
    return (palette or Palette()).extended(variants)


def variant_handles(palette: Palette, variants: Sequence[str]) -> list[Any]:
    """Legend entries for ``variants``: filled squares in each one's colour, in the
    palette's order."""
    from matplotlib.patches import Patch

    wanted = set(variants)
    return [
        Patch(facecolor=colour, edgecolor="none", label=v)
        for v, colour in palette.colours.items()
        if v in wanted
    ]


def neutral_handle(label: str, marker: str = "", ls: str = "") -> Any:
    """A legend entry for what is not a variant (a backend's marker shape, a line style):
    hollow and black, so it cannot be read as a variant's colour."""
    from matplotlib.lines import Line2D

    return Line2D(
        [],
        [],
        ls=ls or "",
        marker=marker or None,
        ms=8,
        color=NEUTRAL,
        markerfacecolor=HOLLOW,
        markeredgecolor=NEUTRAL,
        label=label,
    )
