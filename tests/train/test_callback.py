"""ExplainerCallback: a transformers Trainer run of a few steps leaves one cache per evaluation."""

from __future__ import annotations

import pytest

from explainer import Cache, ExplainerCallback
from explainer.cache.reader import list_caches
from explainer.errors import ExplainerError

FAST = {"projection": "none", "label_quality": "none", "activations_sample": 0, "batch_size": 8}


def tokenised(dataset, tokenizer):
    """The dataset Trainer trains on: subword ids with the word's label on its first subword, -100 elsewhere."""

    def encode(batch):
        encoded = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=64)
        labels = []
        for row, tags in enumerate(batch["ner_tags"]):
            previous, row_labels = None, []
            for word in encoded.word_ids(row):
                row_labels.append(-100 if word is None or word == previous else tags[word])
                previous = word
            labels.append(row_labels)
        encoded["labels"] = labels
        return encoded

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names)


@pytest.mark.slow
def test_a_trainer_run_leaves_one_cache_per_evaluation(tiny_model, tmp_path):
    pytest.importorskip("accelerate")  # transformers' Trainer needs it
    from helpers import word_dataset
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainingArguments,
    )

    model = AutoModelForTokenClassification.from_pretrained(tiny_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    words = word_dataset(16)
    train = tokenised(words, tokenizer)
    callback = ExplainerCallback(words, tmp_path / "caches", every="evaluate", **FAST)
    arguments = TrainingArguments(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        max_steps=4,
        eval_strategy="steps",
        eval_steps=2,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        learning_rate=1e-2,
    )
    trainer = Trainer(
        model=model,
        args=arguments,
        train_dataset=train,
        eval_dataset=train,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        processing_class=tokenizer,
        callbacks=[callback],
    )
    trainer.train()

    caches = list_caches(tmp_path / "caches")
    assert [path.name for path in caches] == ["step-000002", "step-000004"]
    assert sorted(callback.built) == [2, 4]
    first, last = (Cache.open(path) for path in caches)
    assert len(first.examples) == len(last.examples) == 16
    # Each cache holds the model of its own step: training at a high learning rate moved the predictions.
    assert not (first.probs == last.probs).all()
    assert first.manifest["model"]["files_sha256"] != last.manifest["model"]["files_sha256"]
    assert (tmp_path / "caches" / "step-000002.inputs" / "model" / "config.json").is_file()


def test_the_callback_checks_its_options_before_training(tmp_path):
    with pytest.raises(ExplainerError, match="every='batch'"):
        ExplainerCallback("data.conll", tmp_path, every="batch")
    with pytest.raises(ExplainerError, match="unknown option projections="):
        ExplainerCallback("data.conll", tmp_path, projections="pca")
