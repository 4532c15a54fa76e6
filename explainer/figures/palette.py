"""One categorical palette for entity types, shared by every view (figures, inspector, review, probing).

The colours are Glasbey's (Glasbey, van der Heijden, Toh & Gray, "Colour displays for categorical
images", Color Research & Application 32(4), 2007), as published by the ``colorcet`` package in the
variant ``glasbey_bw_minc_20_minl_30``: each colour chosen as far as possible (CIELAB) from all the
previous ones and from black and white, with a chroma of at least 20 (so no type is a grey that
could be read as O) and a lightness of at least 30 (so a type is still a colour, not black). The
first 30 are at least CIEDE2000 10 apart and at least 15 from ``OUTSIDE_COLOUR``
(``tests/figures/test_palette.py`` computes it).

Types take colours in sorted order of the cache's entity types, so a type has the same colour in
every view of a cache.
"""

from __future__ import annotations

from collections.abc import Iterable

import colorcet

from explainer.analysis.labels import entity_type

TYPE_PALETTE: tuple[str, ...] = tuple(colorcet.palette["glasbey_bw_minc_20_minl_30"])
OUTSIDE_COLOUR = "#c9c9c9"  # O, and correct words: the neutral background errors stand out from
OUTSIDE = "O"


def type_colours(types: Iterable[str]) -> dict[str, str]:
    """A colour per entity type, in sorted order (past the palette's 256 colours they repeat)."""
    names = sorted({str(kind) for kind in types if kind is not None and kind != OUTSIDE})
    colours = {name: TYPE_PALETTE[i % len(TYPE_PALETTE)] for i, name in enumerate(names)}
    return {**colours, OUTSIDE: OUTSIDE_COLOUR}


def label_colours(labels: Iterable[str]) -> dict[str, str]:
    """A colour per label: its entity type's (B- darker, I-/E-/L- lighter), grey for O."""
    labels = list(labels)
    by_type = type_colours(entity_type(label) or OUTSIDE for label in labels)
    colours = {}
    for label in labels:
        hue = by_type[entity_type(label) or OUTSIDE]
        inside = label != OUTSIDE and str(label).startswith(("I-", "E-", "L-"))
        colours[label] = lighter(hue, 0.45) if inside else hue
    return colours


def lighter(colour: str, amount: float) -> str:
    """``colour`` (``#rrggbb``) mixed with white by ``amount`` (0: unchanged, 1: white)."""
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * amount):02x}" for c in rgb)
