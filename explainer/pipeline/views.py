"""Build step ``views``: the aggregates the app's pages show, computed once by the build.

Misclassified lists every wrong word with its context and every span error with its texts; Loss by
token/label groups every word. Computed in the app, each needs the whole words table in every worker
(seconds and hundreds of MB on a large cache); read from these files, a worker holds only the result.
The app still computes them when a cache lacks the files (built before this step existed).
"""

from __future__ import annotations

from explainer.analysis.loss import loss_by
from explainer.analysis.misclassified import misclassified_spans, misclassified_words
from explainer.cache import schema
from explainer.pipeline.steps import written_cache


def check_options(options) -> None:
    """Nothing to check: the step has no option and always runs."""


def compute_views(words, span_errors) -> dict:
    """``{file name: DataFrame}`` of every precomputed view (see ``explainer.cache.schema``)."""
    return {
        schema.MISCLASSIFIED_WORDS: misclassified_words(words),
        schema.MISCLASSIFIED_SPANS: misclassified_spans(span_errors, words),
        schema.LOSS_BY_WORD: loss_by(words, key="word"),
        schema.LOSS_BY_LABEL: loss_by(words, key="gold"),
    }


def build_step(context) -> dict:
    """Read the words and span errors just written, write the views; return their row counts."""
    import pyarrow as pa

    # The reader's table conversion (nullable integers of span_errors), on the directory being written.
    written = written_cache(context)
    views = compute_views(written.words, written.span_errors)
    for name, frame in views.items():
        context.writer.write_mapped_table(name, pa.Table.from_pandas(frame, preserve_index=False))
    return {name.removesuffix(".arrow"): len(frame) for name, frame in views.items()}
