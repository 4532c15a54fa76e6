"""Reviewing a dataset's labels: the queue, the draft, the corrections file, span edits, exports and the merge.

Nothing here imports Dash: the Review section (``explainer/app/sections/review.py``, layout and
callbacks only) and ``explainer merge`` (``explainer/commands/merge.py``) are thin layers over these modules.

- :mod:`explainer.review.queue`: the queue's view (order, filters, example shown), Previous/Next and
  the progress line (pure; the orders and statuses are :mod:`explainer.analysis.review`'s).
- :mod:`explainer.review.draft`: one example's correction while it is reviewed, its edits and the
  checks before a decision is saved (pure).
- :mod:`explainer.review.session`: the queue and drafts read from a cache, decisions written.
- :mod:`explainer.review.downloads`: what the Review section offers for download.
- :mod:`explainer.review.corrections`: the JSONL file of decisions beside a cache (locked appends).
- :mod:`explainer.review.edits`: pure operations on one example's IOB2 tags (accept, add, remove).
- :mod:`explainer.review.export`: corrections applied to a cache's examples, as CoNLL, Prodigy-style
  JSONL, and a summary of what changed.
- :mod:`explainer.review.merge`: corrections applied to the original dataset file, leaving every
  other example byte-for-byte as it was.
"""
