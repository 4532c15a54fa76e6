"""The on-disk cache format: the contract between ``explainer build`` (writer) and the app (reader).

One cache directory per (model, dataset, split)::

    manifest.json        written last; see MANIFEST_KEYS
    examples.parquet     one row per example
    words.parquet        one row per dataset word
    subwords.parquet     one row per model token, special tokens included; row i <-> row i of the arrays
    spans.parquet        gold and predicted entity spans
    span_errors.parquet  every gold/predicted span classified (correct, missed, spurious, ...)
    metrics.json         dataset-level results (seqeval report, confusion counts, error counts)
    probs.npy            float32 [n_subwords, n_labels] softmax probabilities
    hidden.npy           float16 [n_subwords, hidden_size] last hidden state

Beside the cache, not in it (a rebuild replaces the directory): ``<cache name>.corrections.jsonl``, the
Review tab's decisions, one JSON line each, appended under the lock ``.<cache name>.corrections.jsonl.lock``
(format in explainer/review/corrections.py; ``EXPLAINER_CORRECTIONS_DIR`` moves both); and
``<cache name>.slices.json``, the slices a user named (explainer/cache/own_slices.py), moved alike.

Arrays are opened with ``np.load(path, mmap_mode="r", allow_pickle=False)``. Nothing is pickled.
Tables are written in row groups of ROW_GROUP_ROWS rows, sorted by example_id, so the app reads one
example's rows by row group (lazy reading) instead of loading whole tables into every worker.

Precomputed views (build step ``views``; optional, the app computes them when absent). Arrow IPC
files, uncompressed, so the app memory-maps them: their data stays in the page cache, shared by
every worker, instead of being copied into each worker's heap::

    misclassified_words.arrow     the Misclassified word grid: words with gold != predicted, with context
                                  (example_id, word_index, word, gold, pred, prob_pred, prob_gold, loss, context)
    misclassified_spans.arrow     the Misclassified span grid: span errors but correct, with gold_text and
                                  pred_text, word_index (first word), the span_errors columns and row_id
    loss_by_word.arrow            Loss by token: word, count, mean_loss, median_loss, total_loss, errors
    loss_by_label.arrow           Loss by label: gold, count, mean_loss, median_loss, total_loss, errors

Feed-forward activations (build step ``activations``, ``--activations-sample N``, 0 = none; the
Activations tab says how to add them when absent; explainer/pipeline/activations.py)::

    activations.npy               float16 [n_layers, n_positions, d_ff] each layer's FFN output after the
                                  non-linearity, for the word subwords of a seeded sample of examples
    activation_positions.parquet  row i <-> activations[:, i]: example_id (int64), word_index (int32),
                                  position (int32, in the example's stitched sequence), subword_row (int64)

Columns (dtype) of each table
-----------------------------
examples.parquet
    example_id (int64, 0..n-1, position in the loaded dataset after empty examples were skipped),
    source (str: file:line or split[index]), words_hash (str, Example.words_hash),
    text (str, words joined by a space), words (list<str>), gold_tags (list<str>), pred_tags (list<str>),
    n_words (int32), n_subwords (int32, specials included), subword_offset (int64, first row of this
    example in subwords.parquet / the arrays), word_offset (int64, first row in words.parquet),
    windowed (bool, the example was longer than the model's maximum and was split into windows),
    total_loss (float32, sum over the words' losses), mean_loss (float32),
    n_gold_spans, n_pred_spans, n_correct_spans (int32), n_errors (int32, span errors of any category),
    n_word_errors (int32, words whose predicted label differs from gold),
    precision, recall, f1 (float32; entity-level for this example; f1 is 1.0 when both have no spans)

words.parquet
    example_id (int64), word_index (int32), word (str), gold (str), pred (str), gold_id (int16),
    pred_id (int16), loss (float32, cross-entropy of the word's first subword against gold),
    prob_pred (float32), prob_gold (float32), subword_row (int64, global row of the first subword),
    n_subwords (int16)

subwords.parquet
    example_id (int64), position (int32, index within the example's stitched sequence),
    token (str, the tokenizer's token string), input_id (int32), word_index (int32, -1 for special
    tokens), label_id (int16, gold label id on a word's first subword, -100 = IGN elsewhere),
    pred_id (int16), prob_pred (float32), prob_gold (float32, NaN on IGN), loss (float32, NaN on IGN),
    window (int16, which window of the example produced this row's outputs; 0 if not windowed)

spans.parquet
    example_id (int64), source ("gold" | "pred"), start (int32, first word), end (int32, one past the
    last word), type (str)

span_errors.parquet
    example_id (int64), category (one of ERROR_CATEGORIES), type (str: the gold type, or the
    predicted type for spurious), gold_start, gold_end (Int32, null for spurious), gold_type (str|null),
    pred_start, pred_end (Int32, null for missed), pred_type (str|null)

metrics.json
    {"labels": [...], "entity_types": [...],
     "seqeval": {"<TYPE>": {"precision", "recall", "f1", "support"}, "micro avg": {...},
                 "macro avg": {...}, "weighted avg": {...}},
     "word_accuracy": float,
     "confusion": {"labels": [...], "counts": [[int]]},   # rows gold, columns predicted (word level)
     "error_counts": {"<category>": {"<TYPE>": int}}}

Optional files (written by a build step of explainer/pipeline/steps.py; the app copes without them)
--------------------------------------------------------------------------------------------
example_embeddings.npy (build step ``projection``, always written; explainer/pipeline/projection.py)
    float32 [n_examples, hidden_size], row i <-> row i of examples.parquet: the mean of the example's
    last hidden states over its non-special subwords, L2-normalised (zeros for an example without one);
    Find duplicates compares these
word_projection.npy (``--projection umap|pca``; not written for ``none``)
    float32 [n_words, 2], row i <-> row i of words.parquet: each word's first subword projected to 2-D
example_projection.npy (same option)
    float32 [n_examples, 2], row i <-> row i of examples.parquet: the example embeddings projected to 2-D
projection.json (same step, always written)
    {"method": umap|pca|none, "seed", "max_fit" (--projection-sample),
     "words": {"points", "fitted_on", "method", "pca_dimensions", "umap": {...}}, "examples": {...}};
     "method" per projection is "pca" when there were fewer points than UMAP is used for
label_quality.parquet (``--label-quality METHOD``, not written for ``none``; explainer/pipeline/label_quality.py)
    one row per word, row i <-> row i of words.parquet: example_id (int64), label_quality (float32 in
    [0, 1], cleanlab's token label-quality score of the gold label, low = likely wrong; NaN when the
    word has no valid gold id), label_issue (bool, flagged by cleanlab's find_label_issues)
example_label_quality.parquet (same option)
    one row per example, row i <-> row i of examples.parquet: example_id (int64), label_quality
    (float32, cleanlab's sentence score: the minimum over its words; NaN without a scored word),
    n_label_issues (int32, its words flagged as label issues)

activation_nmf.npz (build step ``activation_nmf``, with the activations; explainer/pipeline/activations.py)
    the Activations tab's default view (all layers, DEFAULT_COMPONENTS components) factorised:
    weights float32 [n_positions, k], components float32 [k, n_neurons kept], neurons int64 [n_neurons kept];
    manifest ``analyses.activation_nmf`` holds layers, n_components, seed, fitted_on, seconds
duplicate_groups.arrow (build step ``duplicates``, always written; explainer/pipeline/duplicates.py)
    Find duplicates' exact groups: group, text, size, example_ids (list<int64>), variants, inconsistent
near_duplicates.arrow (same step, when example_embeddings.npy exists)
    near-duplicate pairs at the tab's lowest threshold: a, b (example ids), similarity, conflicts, inconsistent
data_checks.arrow (build step ``data_checks``, always written; explainer/pipeline/data_checks.py)
    one row per check of explainer/analysis/data_checks.py: check (str), count (int64), message (str),
    example_ids (list<int64>), word_indexes (list<int32>, parallel to example_ids, -1 for a whole example);
    at most MAX_LOCATIONS places per check; manifest ``analyses.data_checks.counts`` holds {check: count}

slice_spans.arrow (build step ``slices``, always written; explainer/pipeline/slices.py)
    one row per gold and per predicted span: example_id, side (gold|pred), start, end, type, text,
    n_subwords, example_words, matched (bool: the other side has the same span), and per attribute of
    explainer/analysis/slice_attributes.py its value (column ``<name>``) and bucket (``bucket:<name>``);
    the reference attributes (seen, train_frequency, label_consistency, type_frequency) only with
    ``--train-dataset``
slice_examples.arrow (same step)
    one row per example: example_id and each example attribute's value and bucket
slice_buckets.arrow (same step)
    one row per (attribute, bucket, type; type "" = all types): attribute, bucket, order, type, n_gold,
    tp_gold, n_pred, tp_pred, support, precision, recall, f1 and each one's _low/_high 95% bootstrap bound
weak_slices.arrow (same step)
    the weak slices, best first: conditions ("attribute=bucket;..."), type ("" = all), the counts,
    support, precision, recall, f1, f1_low, f1_high, score; manifest ``analyses.slices`` holds the
    attributes, the reference set's name and counts, the overall scores, draws, seed and min_support
findings.arrow (build step ``findings``, ``--findings on`` by default; explainer/pipeline/findings.py)
    one row per suspected label error, best first (explainer/analysis/findings.py): example_id (int64),
    start, end (int32, the region's words, end exclusive), kind (str: wrong type, wrong boundary, missing
    entity, should not be an entity), text (str, the region's words), gold_spans, fix_spans
    (list<str> "start,end,type": the region's spans now and after the fix), fix_tags (list<str>, the
    region's IOB2 tags after the fix), model, consistency, neighbours (float32 signals in [0, 1], NaN
    when unavailable), score (float32, their weighted sum), sources (str, the signals that proposed
    it), evidence (str), dynamics (float32, the training-margin signal, NaN without training dynamics; weight 0
    in score by default); manifest ``analyses.findings`` holds the weights and counts
dynamics_words.arrow, dynamics_examples.arrow, dynamics_spans.arrow (build step ``training_dynamics``,
``--training-dynamics auto`` by default: only when the model was trained with ``explainer train
--record-dynamics`` on this dataset; explainer/pipeline/dynamics.py)
    the data map (explainer/analysis/dynamics.py). words: row i <-> row i of words.parquet, confidence,
    variability, margin (float32, NaN for a word without dynamics); examples: one row per example with
    dynamics, example_id (int64), n_words, confidence, variability, margin, region (str); spans: one row
    per gold span whose words all have dynamics, example_id, start, end, type, text and the same columns;
    manifest ``analyses.training_dynamics`` holds whether they were used and why not, the epochs and
    the matched counts

Out-of-fold caches (``explainer crossval``; manifest ``out_of_fold: true``, see OPTIONAL_MANIFEST_KEYS)
-------------------------------------------------------------------------------------------------
folds.npy
    int16 [n_examples], row i <-> row i of examples.parquet: the fold of example i, i.e. the fold model
    (``manifest["crossval"]["models"][fold]``) whose outputs the cache holds for it; that model was
    trained on every other fold
"""

SCHEMA_VERSION = 1

MANIFEST = "manifest.json"
EXAMPLES = "examples.parquet"
WORDS = "words.parquet"
SUBWORDS = "subwords.parquet"
SPANS = "spans.parquet"
SPAN_ERRORS = "span_errors.parquet"
METRICS = "metrics.json"
PROBS = "probs.npy"
HIDDEN = "hidden.npy"

TABLES = (EXAMPLES, WORDS, SUBWORDS, SPANS, SPAN_ERRORS)
ARRAYS = (PROBS, HIDDEN)
# Rows per Parquet row group: small enough that one example's rows are read without the whole table.
ROW_GROUP_ROWS = 16_384

# Aggregates the app's pages read instead of computing them from the whole tables (build step "views",
# explainer/pipeline/views.py); a cache without them still works, the app computes them on first use.
MISCLASSIFIED_WORDS = "misclassified_words.arrow"
MISCLASSIFIED_SPANS = "misclassified_spans.arrow"
LOSS_BY_WORD = "loss_by_word.arrow"
LOSS_BY_LABEL = "loss_by_label.arrow"
VIEW_TABLES = (MISCLASSIFIED_WORDS, MISCLASSIFIED_SPANS, LOSS_BY_WORD, LOSS_BY_LABEL)

# Optional files (see the docstring); their absence means the build option was off or older.
EXAMPLE_EMBEDDINGS = "example_embeddings.npy"
WORD_PROJECTION = "word_projection.npy"
EXAMPLE_PROJECTION = "example_projection.npy"
PROJECTION_INFO = "projection.json"
LABEL_QUALITY = "label_quality.parquet"
EXAMPLE_LABEL_QUALITY = "example_label_quality.parquet"
ACTIVATIONS = "activations.npy"
ACTIVATION_POSITIONS = "activation_positions.parquet"
ACTIVATION_NMF = "activation_nmf.npz"
DUPLICATE_GROUPS = "duplicate_groups.arrow"
NEAR_DUPLICATES = "near_duplicates.arrow"
DATA_CHECKS = "data_checks.arrow"
SLICE_SPANS = "slice_spans.arrow"
SLICE_EXAMPLES = "slice_examples.arrow"
SLICE_BUCKETS = "slice_buckets.arrow"
WEAK_SLICES = "weak_slices.arrow"
FINDINGS = "findings.arrow"
WORD_DYNAMICS = "dynamics_words.arrow"
EXAMPLE_DYNAMICS = "dynamics_examples.arrow"
SPAN_DYNAMICS = "dynamics_spans.arrow"

IGN = -100

# Span error categories (DESIGN.md vocabulary, after nervaluate/MUC).
CORRECT = "correct"
MISSED = "missed"
SPURIOUS = "spurious"
WRONG_TYPE = "wrong type"
BOUNDARY = "boundary"
TYPE_AND_BOUNDARY = "type and boundary"
ERROR_CATEGORIES = (CORRECT, MISSED, SPURIOUS, WRONG_TYPE, BOUNDARY, TYPE_AND_BOUNDARY)

MANIFEST_KEYS = (
    "schema_version",  # int, SCHEMA_VERSION
    "tool_version",  # explainer.__version__
    "created",  # ISO-8601 UTC
    "model",  # {"id", "revision", "files_sha256", "model_type", "max_length", "hidden_size", "training_epoch"}
    "dataset",  # {"spec", "format", "split", "fingerprint", "label_map", "dropped_words", "tag_scheme"}
    "split",  # str | None
    "labels",  # list[str], index = label id (the model's id2label)
    "counts",  # {"examples", "words", "subwords", "gold_spans", "pred_spans", "skipped_empty", "windowed",
    #  "words_replaced_by_unk" (words the tokenizer turned into no subword, read as [UNK])}
    "headline",  # {"entity_f1", "entity_precision", "entity_recall", "word_accuracy", "span_errors", "word_errors"}
    "settings",  # build settings: batch_size, max_length, stride, device, ...
    "timings",  # seconds per stage: load, tokenize, forward, write, total
    "command",  # the command line that rebuilds this cache, generated from "options"
)

FOLDS = "folds.npy"  # out-of-fold caches only (explainer crossval)

# Optional manifest keys: a cache without them is still current (they were added within version 1).
OPTIONAL_MANIFEST_KEYS = (
    "analyses",  # {step name: summary} from explainer/pipeline/steps.py (projection, label_quality, ...)
    "sharding",  # sharded build (torchrun): {"ranks", "backend", "examples", "subwords", "devices", "forward_seconds"}
    "out_of_fold",  # true for an `explainer crossval` cache: each example's outputs from the fold model that did not see it
    "crossval",  # {"folds", "seed", "assignment": FOLDS, "models": [per fold: model info, training set]}
    # {"subcommand": "build" | "crossval", option: value}: the options of the command that wrote the cache
    # (explainer/pipeline/options.py); older caches have only "command" (read by manifest_options)
    "options",
)
