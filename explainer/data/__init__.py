"""Dataset loading: every supported input form becomes a list of ``Example``."""

from explainer.data.example import Example, LoadedDataset

__all__ = ["Example", "LoadedDataset"]
