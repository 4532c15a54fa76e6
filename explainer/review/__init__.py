"""Reviewing a dataset's labels: the corrections file, span edits, exports and the merge.

Nothing here imports Dash: the Review section (``explainer/app/sections/review.py``) and
``explainer merge`` (``explainer/commands/merge.py``) are thin layers over these modules.

- :mod:`explainer.review.corrections`: the JSONL file of decisions beside a cache (locked appends).
- :mod:`explainer.review.edits`: pure operations on one example's IOB2 tags (accept, add, remove).
- :mod:`explainer.review.export`: corrections applied to a cache's examples, as CoNLL, Prodigy-style
  JSONL, and a summary of what changed.
- :mod:`explainer.review.merge`: corrections applied to the original dataset file, leaving every
  other example byte-for-byte as it was.
"""
