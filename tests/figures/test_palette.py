"""The shared entity-type palette: distinct for 30 types (CIEDE2000), far from O's grey, one colour per type in every view."""

from __future__ import annotations

import math
from itertools import combinations

import pytest

from explainer.figures.palette import OUTSIDE_COLOUR, TYPE_PALETTE, label_colours, lighter, type_colours

D65 = (0.95047, 1.0, 1.08883)


def lab(colour: str) -> tuple[float, float, float]:
    """CIELAB (D65) of an sRGB ``#rrggbb`` colour."""
    rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb)
    xyz = (
        0.4124564 * r + 0.3575761 * g + 0.1804375 * b,
        0.2126729 * r + 0.7151522 * g + 0.0721750 * b,
        0.0193339 * r + 0.1191920 * g + 0.9503041 * b,
    )
    fx, fy, fz = (
        t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29
        for t in (v / n for v, n in zip(xyz, D65))
    )
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def ciede2000(first: tuple[float, float, float], second: tuple[float, float, float]) -> float:
    """ΔE00 between two CIELAB colours (Sharma, Wu & Dalal 2005, with kL = kC = kH = 1)."""
    (l1, a1, b1), (l2, a2, b2) = first, second
    c_mean = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_mean**7 / (c_mean**7 + 25**7)))
    a1, a2 = (1 + g) * a1, (1 + g) * a2
    c1, c2 = math.hypot(a1, b1), math.hypot(a2, b2)
    h1 = math.degrees(math.atan2(b1, a1)) % 360 if c1 else 0.0
    h2 = math.degrees(math.atan2(b2, a2)) % 360 if c2 else 0.0
    if c1 * c2 == 0:
        dh, h_mean = 0.0, h1 + h2
    else:
        dh = h2 - h1 if abs(h2 - h1) <= 180 else (h2 - h1 - 360 if h2 > h1 else h2 - h1 + 360)
        h_mean = (
            (h1 + h2) / 2 if abs(h1 - h2) <= 180 else ((h1 + h2 + 360) / 2 if h1 + h2 < 360 else (h1 + h2 - 360) / 2)
        )
    d_l, d_c = l2 - l1, c2 - c1
    d_h = 2 * math.sqrt(c1 * c2) * math.sin(math.radians(dh / 2))
    l_mean, c_mean = (l1 + l2) / 2, (c1 + c2) / 2
    t = (
        1
        - 0.17 * math.cos(math.radians(h_mean - 30))
        + 0.24 * math.cos(math.radians(2 * h_mean))
        + 0.32 * math.cos(math.radians(3 * h_mean + 6))
        - 0.20 * math.cos(math.radians(4 * h_mean - 63))
    )
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / math.sqrt(20 + (l_mean - 50) ** 2)
    s_c, s_h = 1 + 0.045 * c_mean, 1 + 0.015 * c_mean * t
    r_t = (
        -math.sin(math.radians(60 * math.exp(-(((h_mean - 275) / 25) ** 2))))
        * 2
        * math.sqrt(c_mean**7 / (c_mean**7 + 25**7))
    )
    return math.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h))


@pytest.mark.parametrize(
    "first, second, expected",  # pairs of Sharma, Wu & Dalal's published test data
    [
        ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
        ((50.0, -1.3802, -84.2814), (50.0, 0.0, -82.7485), 1.0000),
        ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
        ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
        ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
        ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
    ],
)
def test_ciede2000_matches_the_published_test_data(first, second, expected):
    assert ciede2000(first, second) == pytest.approx(expected, abs=1e-4)


def test_thirty_types_are_distinct_and_none_is_near_the_grey_of_o():
    colours = list(type_colours(f"type{i:02d}" for i in range(30)).items())
    types = [colour for name, colour in colours if name != "O"]
    assert len(set(types)) == 30
    closest = min(ciede2000(lab(a), lab(b)) for a, b in combinations(types, 2))
    from_grey = min(ciede2000(lab(colour), lab(OUTSIDE_COLOUR)) for colour in types)
    assert closest >= 10, closest
    assert from_grey >= 15, from_grey


def test_a_type_keeps_its_colour_whatever_the_order_and_o_is_grey():
    types = ["song", "band", "person", "award", "album", "organisation"]
    colours = type_colours(types)
    assert colours == type_colours(reversed(types)) and colours["O"] == OUTSIDE_COLOUR
    assert [colours[name] for name in sorted(types)] == list(TYPE_PALETTE[:6])


def test_labels_share_their_types_hue_b_darker_than_i():
    colours = label_colours(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    by_type = type_colours(["PER", "LOC"])
    assert colours["O"] == OUTSIDE_COLOUR
    assert colours["B-PER"] == by_type["PER"] and colours["I-PER"] == lighter(by_type["PER"], 0.45)
    assert colours["B-LOC"] != colours["B-PER"]
