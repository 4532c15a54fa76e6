"""Token attributions: Layer Integrated Gradients over the embedding layer, every target at once.

The method is transformers-interpret's ``TokenClassificationExplainer``: for a *target* (a subword
position and a class), integrated gradients of the softmax probability of that class at that
position, with respect to the output of the model's input embedding layer, along the straight
path from a baseline (special tokens kept, every other subword replaced by the padding token) to
the text. The attribution of each input subword is the sum over the embedding dimension; the
normalised view divides the vector by its L2 norm, as that library does.

What differs is the cost. That library runs one captum ``LayerIntegratedGradients`` call per
target: one forward and one backward pass over the interpolated inputs each, plus forward passes
for the predictions and the convergence delta. Here the interpolated embeddings go through the
model *once* for all targets, and the targets' backward passes run on that shared graph, batched
(``torch.autograd.grad(..., is_grads_batched=True)``) in groups sized to the work (see
``MAX_GRADIENT_ELEMENTS``); the predictions and both endpoints of the path come from one extra
forward pass over two rows. Results are keyed by subword position, so a
repeated token is two targets, not one.

Completeness: for each target the raw attributions sum to the target's score at the text minus
its score at the baseline, up to the quadrature error reported as ``delta``. Since both ends of the
path are known, that error is measured, not estimated, and it decides the work: with a
``tolerance`` (the fast preset's 5% of the target's score), the targets that miss it are computed
again with twice the points, and again, up to ``max_steps``; each round is one forward pass shared
by the targets still missing, so a well-behaved target costs only the first few points. A target
that misses the tolerance at the cap is reported (``missed``; ``within_tolerance`` in the JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from explainer.errors import ExplainerError
from explainer.inference.encoding import EncodedText, encode

METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")


@dataclass(frozen=True)
class Preset:
    """A named choice of the integration: points, quadrature rule (captum's names) and refinement.

    With a ``tolerance``, a target whose completeness error exceeds ``tolerance`` x its score is
    recomputed with twice the points, until it meets it or ``max_steps`` is reached.
    """

    n_steps: int
    method: str = "gausslegendre"
    description: str = ""
    tolerance: float | None = None
    max_steps: int | None = None


# A completeness error below this (in probability) is accepted whatever the score: 5% of a score of
# 1e-4 would ask for a precision float32 gradients do not have, and no reader sees 0.001.
COMPLETENESS_FLOOR = 1e-3
PRESETS = {
    # Gauss-Legendre is exact for polynomials of degree 2n-1 along the path, so few points do on a
    # smooth path; a fine-tuned model's saturating softmax is not smooth, hence the refinement.
    "fast": Preset(
        n_steps=8,
        tolerance=0.05,
        max_steps=128,
        description="8 Gauss-Legendre points, doubled (up to 128) for targets whose completeness error > 5% of the score",
    ),
    "full": Preset(n_steps=50, description="50 Gauss-Legendre points, transformers-interpret's default"),
}
DEFAULT_PRESET = "fast"
# Largest gradient tensor (targets x steps x subwords x dim) one batched backward pass may produce.
# Batching pays while the per-target work is small (per-operation overhead dominates: 3x faster on
# a tiny model); once one target's gradient fills ~1 MB, one target at a time on the shared graph
# was measured 10-15% faster on CPU than larger batches (bench/attribution.py).
MAX_GRADIENT_ELEMENTS = 1 << 18


@dataclass(frozen=True)
class Target:
    """One explained subword: its position, what the model predicts there, and the class explained.

    The explained score is the probability of ``label`` at ``position``, minus that of
    ``contrast`` when one is set ("why ``label`` and not ``contrast``").
    """

    position: int
    token: str
    word_index: int | None
    predicted: str
    probability: float  # of the predicted label
    label: str
    contrast: str | None = None


@dataclass
class Attributions:
    """Attributions of every input subword to every target of one text.

    ``raw[k, i]`` is input subword ``i``'s attribution to target ``k`` (summed over the embedding
    dimension, before normalisation). Row order follows ``targets``; look rows up by position with
    :meth:`by_position`.
    """

    encoded: EncodedText
    targets: list[Target]
    raw: np.ndarray  # float64 [n_targets, n_subwords]
    score_input: np.ndarray  # float64 [n_targets], the explained score on the text
    score_baseline: np.ndarray  # float64 [n_targets], on the baseline
    n_steps: int
    method: str
    options: dict = field(default_factory=dict)
    # Points each target was finally computed with (n_steps unless refined); None: all n_steps.
    target_steps: np.ndarray | None = None
    tolerance: float | None = None  # relative completeness tolerance the refinement aimed at

    @property
    def tokens(self) -> list[str]:
        return self.encoded.tokens

    @property
    def steps(self) -> np.ndarray:
        """Quadrature points per target (int array, one per row)."""
        if self.target_steps is None:
            return np.full(len(self.targets), self.n_steps, dtype=int)
        return self.target_steps

    @property
    def allowed_error(self) -> np.ndarray | None:
        """Per target, the largest completeness error the tolerance accepts (None without one)."""
        if self.tolerance is None:
            return None
        return allowed_error(self.score_input, self.tolerance)

    @property
    def missed(self) -> np.ndarray:
        """Per target, whether its completeness error still exceeds the tolerance (all False without one)."""
        allowed = self.allowed_error
        if allowed is None:
            return np.zeros(len(self.targets), dtype=bool)
        return np.abs(self.delta) > allowed

    @property
    def normalised(self) -> np.ndarray:
        """``raw`` with each row divided by its L2 norm (a row of zeros stays zeros)."""
        norms = np.linalg.norm(self.raw, axis=1, keepdims=True)
        return np.divide(self.raw, norms, out=np.zeros_like(self.raw), where=norms > 0)

    @property
    def delta(self) -> np.ndarray:
        """Completeness error per target: sum of raw attributions minus the score difference."""
        return self.raw.sum(axis=1) - (self.score_input - self.score_baseline)

    def by_position(self) -> dict[int, np.ndarray]:
        """Normalised attributions keyed by target position (never by token string)."""
        normalised = self.normalised
        return {target.position: normalised[row] for row, target in enumerate(self.targets)}

    def word_level(self) -> tuple[list[str], np.ndarray]:
        """Subwords merged into words: column labels and ``[n_targets, n_columns]`` sums of the
        normalised attributions. Special tokens keep a column each."""
        columns: list[str] = []
        column_of: list[int] = []
        seen: dict[int, int] = {}
        for token, word in zip(self.encoded.tokens, self.encoded.word_ids):
            if word is None:
                columns.append(token)
                column_of.append(len(columns) - 1)
            else:
                if word not in seen:
                    seen[word] = len(columns)
                    columns.append(self.encoded.words[word])
                column_of.append(seen[word])
        merged = np.zeros((len(self.targets), len(columns)))
        # add.at sums the subwords of a word (repeated indices); on the transposes they index the first axis.
        np.add.at(merged.T, np.asarray(column_of), self.normalised.T)
        return columns, merged

    def to_dict(self) -> dict:
        """A JSON-ready summary: tokens, words, and per target its scores, delta and attributions."""
        normalised, delta, steps, missed = self.normalised, self.delta, self.steps, self.missed
        word_columns, word_matrix = self.word_level()
        return {
            "tokens": list(self.encoded.tokens),
            "word_ids": list(self.encoded.word_ids),
            "words": list(self.encoded.words),
            "n_steps": self.n_steps,
            "max_steps_used": int(steps.max()) if len(steps) else self.n_steps,
            "method": self.method,
            "tolerance": self.tolerance,
            "refined": int((steps > self.n_steps).sum()),
            "missed": int(missed.sum()),
            "options": dict(self.options),
            "word_columns": word_columns,
            "targets": [
                {
                    "position": t.position,
                    "token": t.token,
                    "word_index": t.word_index,
                    "predicted": t.predicted,
                    "probability": t.probability,
                    "label": t.label,
                    "contrast": t.contrast,
                    "score_input": float(self.score_input[row]),
                    "score_baseline": float(self.score_baseline[row]),
                    "delta": float(delta[row]),
                    "n_steps": int(steps[row]),
                    # null without a tolerance: nothing was asked of the error.
                    "within_tolerance": None if self.tolerance is None else not bool(missed[row]),
                    "attributions": [float(v) for v in normalised[row]],
                    "raw": [float(v) for v in self.raw[row]],
                    "word_attributions": [float(v) for v in word_matrix[row]],
                }
                for row, t in enumerate(self.targets)
            ],
        }


def explain(
    live,
    *,
    text: str | None = None,
    words: list[str] | None = None,
    positions=None,
    word_indexes=None,
    entities_only: bool = False,
    gold: list[str] | None = None,
    ignored_indexes=None,
    ignored_labels=None,
    target_label: str | None = None,
    contrast_label: str | None = None,
    n_steps: int = 50,
    method: str = "gausslegendre",
    internal_batch_size: int | None = None,
    target_batch: int | None = None,
    tolerance: float | None = None,
    max_steps: int | None = None,
) -> Attributions:
    """Attributions of every input subword to every selected target of one text.

    Parameters
    ----------
    live : explainer.inference.model.LiveModel
        Model, tokenizer, labels, maximum length and the lock held during the computation.
    text, words : str or list of str
        Free text, or a dataset example's words (exactly one).
    positions : iterable of int, optional
        Explain only these subword positions (default: all); the ignored ones are still left out.
    word_indexes : iterable of int, optional
        Explain only the first subword of these words (added to ``positions``).
    entities_only : bool, default False
        Explain only words' first subwords (the ones that carry a label) predicted as an entity or, when
        ``gold`` is given, whose gold label differs from the prediction: no O, no special token, no IGN
        position. Ignored when ``positions`` or ``word_indexes`` name what to explain.
    gold : list of str, optional
        The gold label of each word (a dataset example), so that ``entities_only`` keeps missed entities.
    ignored_indexes : iterable of int, optional
        Subword positions (special tokens included, as shown in ``tokens``) not to explain.
    ignored_labels : iterable of str, optional
        Do not explain subwords predicted with one of these labels (e.g. ``["O"]``).
    target_label : str, optional
        Explain this class at every target instead of the predicted one.
    contrast_label : str, optional
        Explain the probability of the target class minus that of this class.
    n_steps : int, default 50
        Points of the integral's quadrature.
    method : str, default "gausslegendre"
        captum's quadrature rule (one of ``METHODS``).
    internal_batch_size : int, optional
        At most this many interpolation points per forward pass (default: all at once).
    target_batch : int, optional
        Targets per batched backward pass (``is_grads_batched``); default: as many as keep the
        gradient under ``MAX_GRADIENT_ELEMENTS``. 1 runs them one by one on the shared forward
        graph. The numbers are the same either way.
    tolerance : float, optional
        Refine every target whose completeness error exceeds ``tolerance`` x its score (at least
        ``COMPLETENESS_FLOOR``): recompute it with twice the points, again, up to ``max_steps``.
        Default: no refinement.
    max_steps : int, optional
        The most points a refined target gets (default: ``default_max_steps(n_steps)``).

    Returns
    -------
    Attributions

    Raises
    ------
    ExplainerError
        Unknown labels, positions outside the text, a bad ``n_steps`` or ``method``, a text that is
        empty or longer than the model takes.
    """
    _check_options(n_steps=n_steps, method=method, internal_batch_size=internal_batch_size)
    if tolerance is not None and (
        isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not tolerance > 0
    ):
        raise ExplainerError(f"tolerance {tolerance!r}: expected a positive number (0.05 = 5% of the score)")
    if max_steps is not None and (not isinstance(max_steps, int) or max_steps < n_steps):
        raise ExplainerError(f"max_steps {max_steps!r}: expected a whole number >= n_steps ({n_steps})")
    if target_batch is not None and (not isinstance(target_batch, int) or target_batch < 1):
        raise ExplainerError(f"target_batch {target_batch!r}: expected a positive whole number")
    labels = list(live.labels)
    label_ids = {label: index for index, label in enumerate(labels)}
    ignored_labels = _known_labels(ignored_labels or (), label_ids, what="ignored label")
    for label in (target_label, contrast_label):
        if label is not None:
            _known_labels([label], label_ids, what="class")
    encoded = encode(live.tokenizer, text=text, words=words, max_length=live.max_length)
    ignored_indexes = _positions(ignored_indexes or (), n_tokens=len(encoded), what="ignored index")
    if word_indexes is not None:
        firsts = encoded.first_subwords()
        for word in word_indexes:
            if not (isinstance(word, int) and 0 <= word < len(firsts)):
                raise ExplainerError(f"word {word!r}: the text has words 0..{len(firsts) - 1}")
        positions = {*(positions or ()), *(firsts[word] for word in word_indexes)}
    if positions is not None:
        ignored_indexes |= set(range(len(encoded))) - _positions(positions, n_tokens=len(encoded), what="position")
    elif entities_only:
        ignored_indexes |= _outside_entities(encoded, gold=gold, labels=labels, live=live)
    with live.lock:
        return _explain_encoded(
            live.model,
            live.tokenizer,
            encoded,
            labels=labels,
            ignored_indexes=ignored_indexes,
            ignored_labels=ignored_labels,
            target_id=label_ids.get(target_label),
            contrast_id=label_ids.get(contrast_label),
            n_steps=int(n_steps),
            method=method,
            internal_batch_size=internal_batch_size,
            target_batch=target_batch,
            tolerance=None if tolerance is None else float(tolerance),
            max_steps=max_steps if max_steps is not None else default_max_steps(int(n_steps)),
        )


def _outside_entities(encoded: EncodedText, *, gold: list[str] | None, labels: list[str], live) -> set[int]:
    """Positions that are not a word's first subword predicted as an entity or (with ``gold``) mislabelled."""
    import torch

    with live.lock, torch.no_grad():
        device = next(live.model.parameters()).device
        logits = live.model(input_ids=torch.tensor([encoded.input_ids], device=device)).logits[0]
    predicted = [labels[index] for index in logits.argmax(dim=-1).tolist()]
    kept = set()
    for position in encoded.first_subwords():
        word = encoded.word_ids[position]
        gold_label = gold[word] if gold is not None and word is not None and word < len(gold) else None
        if predicted[position] != "O" or (gold_label is not None and gold_label != predicted[position]):
            kept.add(position)
    return set(range(len(encoded))) - kept


def default_max_steps(n_steps: int) -> int:
    """The refinement's cap when none is given: 128 points, or 4 x ``n_steps`` if more."""
    return max(128, 4 * n_steps)


def allowed_error(score_input: np.ndarray, tolerance: float) -> np.ndarray:
    """The completeness error each target may have: ``tolerance`` x |its score|, at least the floor."""
    return np.maximum(tolerance * np.abs(score_input), COMPLETENESS_FLOOR)


def _check_options(*, n_steps, method, internal_batch_size) -> None:
    if not isinstance(n_steps, int) or n_steps < 1:
        raise ExplainerError(f"n_steps {n_steps!r}: expected a positive whole number of integration steps")
    if method not in METHODS:
        raise ExplainerError(f"method {method!r}: expected one of {', '.join(METHODS)}")
    if internal_batch_size is not None and (not isinstance(internal_batch_size, int) or internal_batch_size < 1):
        raise ExplainerError(f"internal_batch_size {internal_batch_size!r}: expected a positive whole number")


def _known_labels(values, label_ids: dict, *, what: str) -> set[str]:
    values = {str(value) for value in values}
    unknown = sorted(values - set(label_ids))
    if unknown:
        raise ExplainerError(f"{what} {', '.join(unknown)} is not one of the model's labels: {' '.join(label_ids)}")
    return values


def _positions(values, *, n_tokens: int, what: str) -> set[int]:
    positions = set()
    for value in values:
        try:
            position = int(value)
        except (TypeError, ValueError):
            raise ExplainerError(f"{what} {value!r}: expected a subword position (a whole number)") from None
        if not 0 <= position < n_tokens:
            raise ExplainerError(
                f"{what} {position}: the text has {n_tokens} subwords, "
                f"positions 0..{n_tokens - 1} (special tokens included)"
            )
        positions.add(position)
    return positions


def baseline_ids(encoded: EncodedText, tokenizer) -> list[int]:
    """The reference input: special tokens kept, every other subword replaced by the padding token
    (the end-of-sequence token for a tokenizer without one, as GPT-2's)."""
    reference = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return [token if word is None else reference for token, word in zip(encoded.input_ids, encoded.word_ids)]


def forward_from_embeddings(model, input_ids, embeddings, attention_mask):
    """Logits of ``model`` with its input embedding layer's output replaced by ``embeddings``.

    ``input_ids`` (one row) still goes in, so whatever else the model derives from it (position
    ids, padding) is that of the real text, as with captum's layer hook.
    """
    n_rows = embeddings.shape[0]
    layer = model.get_input_embeddings()
    handle = layer.register_forward_hook(lambda module, args, output: embeddings)
    try:
        return model(input_ids=input_ids.expand(n_rows, -1), attention_mask=attention_mask.expand(n_rows, -1)).logits
    finally:
        handle.remove()


def _explain_encoded(
    model,
    tokenizer,
    encoded: EncodedText,
    *,
    labels,
    ignored_indexes,
    ignored_labels,
    target_id,
    contrast_id,
    n_steps,
    method,
    internal_batch_size,
    target_batch,
    tolerance=None,
    max_steps=None,
) -> Attributions:
    import torch
    from captum.attr._utils.approximation_methods import approximation_parameters

    device = next(model.parameters()).device
    input_ids = torch.tensor([encoded.input_ids], device=device)
    reference_ids = torch.tensor([baseline_ids(encoded, tokenizer)], device=device)
    attention_mask = torch.ones_like(input_ids)
    embedding_layer = model.get_input_embeddings()
    with torch.no_grad():
        text_embeddings = embedding_layer(input_ids)[0].float()
        base_embeddings = embedding_layer(reference_ids)[0].float()
        # One pass over both ends of the path: the predictions and the scores' endpoints.
        ends = torch.softmax(
            forward_from_embeddings(
                model, input_ids, torch.stack([text_embeddings, base_embeddings]), attention_mask
            ).float(),
            dim=-1,
        )
    predicted = ends[0].argmax(dim=-1).tolist()
    targets = _targets(
        encoded,
        ends[0],
        predicted=predicted,
        labels=labels,
        ignored_indexes=ignored_indexes,
        ignored_labels=ignored_labels,
        target_id=target_id,
        contrast_id=contrast_id,
    )
    positions = torch.tensor([t.position for t in targets], dtype=torch.long, device=device)
    classes = torch.tensor([labels.index(t.label) for t in targets], dtype=torch.long, device=device)
    contrasts = None if contrast_id is None else torch.full_like(classes, contrast_id)

    def scores_of(rows):  # the targets' scores: [rows, n_subwords, n_labels] -> [rows, len(rows)]
        def scores(probs):
            value = probs[:, positions[rows], classes[rows]]
            return value if contrasts is None else value - probs[:, positions[rows], contrasts[rows]]

        return scores

    every = torch.arange(len(targets), device=device)
    endpoint_scores = scores_of(every)(ends).double().cpu().numpy() if targets else np.zeros((2, 0))
    difference = text_embeddings - base_embeddings
    step_sizes, alphas = approximation_parameters(method)

    def integrate(rows, steps: int) -> np.ndarray:
        """Raw attributions of the targets ``rows`` with ``steps`` points: one shared forward per chunk."""
        total = _integrated_gradients(
            model,
            input_ids,
            attention_mask,
            base_embeddings,
            difference,
            scores_of(rows),
            n_targets=len(rows),
            alphas=alphas(steps),
            weights=step_sizes(steps),
            steps_per_pass=internal_batch_size or steps,
            target_batch=target_batch,
        )
        return (total * difference).sum(dim=-1).double().cpu().numpy()

    raw = np.zeros((len(targets), len(encoded)))
    target_steps = np.full(len(targets), n_steps, dtype=int)
    if targets:
        raw = integrate(every, n_steps)
        if tolerance is not None:
            allowed = allowed_error(endpoint_scores[0], tolerance)
            expected = endpoint_scores[0] - endpoint_scores[1]
            steps = n_steps
            while steps < max_steps:
                missing = np.flatnonzero(np.abs(raw.sum(axis=1) - expected) > allowed)
                if not len(missing):
                    break
                steps = min(2 * steps, max_steps)
                raw[missing] = integrate(torch.as_tensor(missing, device=device), steps)
                target_steps[missing] = steps
    return Attributions(
        encoded=encoded,
        targets=targets,
        raw=raw,
        score_input=endpoint_scores[0],
        score_baseline=endpoint_scores[1],
        n_steps=n_steps,
        method=method,
        options={
            "ignored_indexes": sorted(ignored_indexes),
            "ignored_labels": sorted(ignored_labels),
            "target_label": None if target_id is None else labels[target_id],
            "contrast_label": None if contrast_id is None else labels[contrast_id],
            "internal_batch_size": internal_batch_size,
            "max_steps": max_steps if tolerance is not None else None,
        },
        target_steps=target_steps,
        tolerance=tolerance,
    )


def _targets(encoded, probs, *, predicted, labels, ignored_indexes, ignored_labels, target_id, contrast_id):
    """Every subword position not ignored (by index, or by its predicted label), in order."""
    targets = []
    for position, (token, word) in enumerate(zip(encoded.tokens, encoded.word_ids)):
        if position in ignored_indexes or labels[predicted[position]] in ignored_labels:
            continue
        targets.append(
            Target(
                position=position,
                token=token,
                word_index=word,
                predicted=labels[predicted[position]],
                probability=float(probs[position, predicted[position]]),
                label=labels[predicted[position] if target_id is None else target_id],
                contrast=None if contrast_id is None else labels[contrast_id],
            )
        )
    return targets


def _integrated_gradients(
    model,
    input_ids,
    attention_mask,
    base_embeddings,
    difference,
    scores,
    *,
    n_targets,
    alphas,
    weights,
    steps_per_pass,
    target_batch,
):
    """Sum over the quadrature points of weight x gradient of each target's score, ``[n_targets, T, D]``.

    One forward pass per chunk of points serves every target; the targets' backward passes run
    batched in groups of ``target_batch`` (default: groups whose gradient tensor stays under
    ``MAX_GRADIENT_ELEMENTS``), a group of one being a plain backward pass on the retained graph.
    """
    import torch

    n_tokens, dim = difference.shape
    total = torch.zeros((n_targets, n_tokens, dim), dtype=torch.float32, device=difference.device)
    alphas = torch.tensor(alphas, dtype=torch.float32, device=difference.device)
    weights = torch.tensor(weights, dtype=torch.float32, device=difference.device)
    for start in range(0, len(alphas), steps_per_pass):
        alpha, weight = alphas[start : start + steps_per_pass], weights[start : start + steps_per_pass]
        embeddings = (base_embeddings + alpha[:, None, None] * difference).requires_grad_(True)
        with torch.enable_grad():
            logits = forward_from_embeddings(model, input_ids, embeddings, attention_mask)
            target_scores = scores(torch.softmax(logits.float(), dim=-1))  # [steps, targets]
        per_group = target_batch or max(1, MAX_GRADIENT_ELEMENTS // (len(alpha) * n_tokens * dim))
        groups = [list(range(first, min(first + per_group, n_targets))) for first in range(0, n_targets, per_group)]
        for number, group in enumerate(groups):
            retain = number < len(groups) - 1
            if len(group) > 1:
                # Cotangent k selects target k's column, weighted by the quadrature weights.
                cotangents = torch.zeros((len(group), len(alpha), n_targets), device=difference.device)
                cotangents[torch.arange(len(group)), :, torch.tensor(group)] = weight
                (gradients,) = torch.autograd.grad(
                    target_scores, embeddings, cotangents, retain_graph=retain, is_grads_batched=True
                )
                total[group] += gradients.sum(dim=1)
            else:
                (k,) = group
                (gradients,) = torch.autograd.grad(target_scores[:, k], embeddings, weight, retain_graph=retain)
                total[k] += gradients.sum(dim=0)
    return total
