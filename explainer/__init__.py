"""NER error analysis: precompute a model's behaviour on a dataset once, explore its errors in a browser."""

__version__ = "0.1.0"
