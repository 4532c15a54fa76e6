"""Training dynamics (``explainer train --record-dynamics``): per epoch, the gold label's probability of every
training word, and its margin, read from the training passes themselves.

As Dataset Cartography (Swayamdipta et al., 2020) and area under the margin (AUM, Pleiss et al., 2020) do,
the values come from each training step's own forward pass (dropout on, the model as it is at that step),
so recording costs no extra pass: the step's logits are turned into probabilities under ``no_grad``. Only
the first subword of each word carries a label (the other subwords are IGN), so there is one value per
word and epoch. The *margin* is the gold probability minus the largest other probability (in [-1, 1];
negative when another label wins): AUM's margin on probabilities rather than logits, so it is comparable
across models.

The table is stored beside the model as :data:`DYNAMICS_FILE` (Parquet, one row per trained word):
``example_index`` (position in the training data), ``words_hash`` (``Example.words_hash``, so a build on
the same data can match its examples), ``word_index``, ``gold`` (the tag trained on), ``gold_prob`` and
``margin`` (``list<float32>``, one value per epoch; NaN for an epoch that ended before the word was seen,
as with ``--max-steps``). Its schema metadata holds the training data's fingerprint and the epochs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from explainer.errors import ExplainerError

if TYPE_CHECKING:
    import pyarrow as pa
    import torch

    from explainer.data.example import Example

DYNAMICS_FILE = "training_dynamics.parquet"
METADATA_KEY = b"explainer.training_dynamics"
SOURCE = "training forward passes (dropout on), first subword of each word"


class DynamicsRecorder:
    """Collects the gold probability and margin of each labelled word at each training step.

    Parameters
    ----------
    examples : sequence of Example
        The training examples, in the order of the features the loader draws from.
    labelled_words : sequence of sequence of int
        Per example, the indexes of its words that carry a label in its feature, in subword order (what
        ``labels != IGN`` selects in the feature's row).
    epochs : int
        Epochs planned (a column per epoch).
    """

    def __init__(self, examples: Sequence[Example], labelled_words: Sequence[Sequence[int]], *, epochs: int) -> None:
        self.examples = list(examples)
        self.word_indexes = [np.asarray(words, dtype=np.int32) for words in labelled_words]
        counts = np.array([len(words) for words in self.word_indexes], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(counts)])
        self.epochs = epochs
        n_words = int(self.offsets[-1])
        self.gold_prob = np.full((n_words, epochs), np.nan, dtype=np.float32)
        self.margin = np.full((n_words, epochs), np.nan, dtype=np.float32)

    def add(self, epoch: int, example_indexes: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """Record one step's batch: ``logits`` ``[batch, positions, labels]``, ``labels`` with IGN (-100)."""
        import torch

        with torch.no_grad():
            probs = torch.softmax(logits.detach().float(), dim=-1)
            labelled = labels != -100
            gold = labels.clamp(min=0).unsqueeze(-1)
            gold_prob = probs.gather(-1, gold).squeeze(-1)
            others = probs.scatter(-1, gold, -1.0)  # the gold label out of the running for "largest other"
            margin = gold_prob - others.max(dim=-1).values
        gold_prob_rows, margin_rows, mask_rows = gold_prob.numpy(), margin.numpy(), labelled.numpy()
        for row, example in enumerate(example_indexes.tolist()):
            start, end = self.offsets[example], self.offsets[example + 1]
            values = gold_prob_rows[row][mask_rows[row]]
            if len(values) != end - start:  # the feature and the recorder disagree: a bug, not bad input
                raise RuntimeError(f"example {example}: {len(values)} labelled positions, expected {end - start}")
            self.gold_prob[start:end, epoch - 1] = values
            self.margin[start:end, epoch - 1] = margin_rows[row][mask_rows[row]]

    def table(self, *, train_fingerprint: str, labels: Sequence[str]) -> pa.Table:
        """The recorded values as the Arrow table stored beside the model (see the module docstring)."""
        import pyarrow as pa

        example_index = np.repeat(np.arange(len(self.examples), dtype=np.int64), np.diff(self.offsets))
        word_index = np.concatenate(self.word_indexes) if self.word_indexes else np.zeros(0, np.int32)
        hashes = [example.words_hash for example in self.examples]
        words_hash = [hashes[i] for i in example_index]
        gold = [self.examples[e].tags[w] for e, w in zip(example_index.tolist(), word_index.tolist())]
        epochs_seen = int(np.isfinite(self.gold_prob).any(axis=0).sum())
        metadata = {
            "train_fingerprint": train_fingerprint,
            "epochs": epochs_seen,
            "labels": list(labels),
            "source": SOURCE,
        }
        columns = {
            "example_index": pa.array(example_index),
            "words_hash": pa.array(words_hash, pa.string()),
            "word_index": pa.array(word_index.astype(np.int32)),
            "gold": pa.array(gold, pa.string()),
            "gold_prob": _list_column(self.gold_prob[:, :epochs_seen]),
            "margin": _list_column(self.margin[:, :epochs_seen]),
        }
        table = pa.table(columns)
        return table.replace_schema_metadata({METADATA_KEY: json.dumps(metadata).encode("utf-8")})


def _list_column(values: npt.NDArray[np.float32]) -> pa.Array:
    import pyarrow as pa

    n_rows, width = values.shape
    flat = pa.array(values.reshape(-1), type=pa.float32(), from_pandas=True)  # NaN stays NaN
    return pa.FixedSizeListArray.from_arrays(flat, width) if n_rows or width else pa.array([], pa.list_(pa.float32()))


def write_dynamics(table: pa.Table, directory: Path) -> Path:
    """Write ``table`` into ``directory`` (the model's staging directory: it appears with the model, atomically)."""
    import pyarrow.parquet as pq

    path = Path(directory) / DYNAMICS_FILE
    pq.write_table(table, path)
    return path


def read_dynamics(model_dir: str | Path) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]] | None:
    """The dynamics stored beside a model, or None when it has none (a hub id, or trained without them).

    Returns
    -------
    (dict, dict of ndarray) or None
        The metadata (``train_fingerprint``, ``epochs``, ``labels``, ``source``) and the columns:
        ``example_index``, ``word_index`` (int), ``words_hash``, ``gold`` (str arrays), ``gold_prob``
        and ``margin`` (float32 ``[n_words, epochs]``).

    Raises
    ------
    ExplainerError
        When the file is there but unreadable or not a dynamics table.
    """
    import pyarrow.parquet as pq

    path = Path(model_dir) / DYNAMICS_FILE
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        metadata = json.loads((table.schema.metadata or {})[METADATA_KEY])
        epochs = int(metadata["epochs"])
        columns: dict[str, npt.NDArray[Any]] = {
            "example_index": table["example_index"].to_numpy().astype(np.int64),
            "word_index": table["word_index"].to_numpy().astype(np.int64),
            "words_hash": np.asarray(table["words_hash"].to_pylist(), dtype=object),
            "gold": np.asarray(table["gold"].to_pylist(), dtype=object),
        }
        for name in ("gold_prob", "margin"):
            flat = table[name].combine_chunks().flatten().to_numpy(zero_copy_only=False)
            columns[name] = np.asarray(flat, dtype=np.float32).reshape(table.num_rows, epochs)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ExplainerError(
            f"{path}: not a training-dynamics table ({error}); remove it, or train again with --record-dynamics --force"
        ) from None
    return metadata, columns
