"""Label names and entity types: the filters every error view shares (pure pandas)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

IGN_LABEL = "IGN"
_SCHEME_PREFIX = re.compile(r"^[BIESLU]-")


def entity_type(label: str | None) -> str | None:
    """The entity type of a label: ``"B-PER"`` -> ``"PER"``; ``"O"`` and plain types are unchanged."""
    return None if label is None else _SCHEME_PREFIX.sub("", str(label))


def label_mask(labels: pd.Series, value: str | None) -> np.ndarray:
    """Which ``labels`` match a filter ``value``: the label itself, or any label of that entity type.

    ``"B-PER"`` matches only ``B-PER``; ``"PER"`` matches ``B-PER`` and ``I-PER`` (so one value
    filters both the word level and the span level). ``None`` matches everything.
    """
    if not value:
        return np.ones(len(labels), dtype=bool)
    matching = [label for label in pd.unique(labels.dropna()) if label == value or entity_type(label) == value]
    mask: npt.NDArray[np.bool_] = labels.isin(matching).to_numpy(dtype=bool, na_value=False)
    return mask


def label_names(ids: Iterable[Any], labels: list[str]) -> list[str]:
    """Label ids -> names, ``IGN`` for -100 (and for ids outside the label list)."""
    return [labels[i] if 0 <= i < len(labels) else IGN_LABEL for i in map(int, ids)]
