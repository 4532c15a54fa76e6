"""Named slices kept beside the cache (explainer.cache.own_slices): where, the round trip, one name once,
atomic writes that lose nothing when several writers save at once, and one-line errors."""

from __future__ import annotations

import json
import os
import stat
import threading

import pytest

from explainer.cache import own_slices as store
from explainer.errors import ExplainerError


def made(name: str, examples=(1, 2, 3)) -> store.OwnSlice:
    return store.OwnSlice(name=name, examples=tuple(examples), made_from="pasted ids", created=store.now_utc())


def test_the_file_sits_beside_the_cache_or_in_the_corrections_directory(tmp_path):
    cache = tmp_path / "caches" / "model-conll-test"
    assert store.slices_path(cache) == tmp_path / "caches" / "model-conll-test.slices.json"
    assert store.slices_path(cache, tmp_path / "elsewhere") == tmp_path / "elsewhere" / "model-conll-test.slices.json"


def test_saved_slices_read_back_in_order_and_delete(tmp_path):
    path = tmp_path / "c.slices.json"
    assert store.read_slices(path) == []
    first, second = made("unseen ORG", (5, 9)), made("tweets", (1,))
    store.save_slice(path, first)
    store.save_slice(path, second)
    assert store.read_slices(path) == [first, second]
    assert json.loads(path.read_text())["version"] == store.VERSION
    assert store.delete_slice(path, "unseen ORG") is True
    assert store.delete_slice(path, "unseen ORG") is False
    assert store.read_slices(path) == [second]
    # Nothing is left beside it but the file and its lock.
    assert sorted(item.name for item in tmp_path.iterdir()) == [".c.slices.json.lock", "c.slices.json"]


def test_a_name_is_taken_once_whatever_its_case(tmp_path):
    path = tmp_path / "c.slices.json"
    store.save_slice(path, made("Tweets"))
    with pytest.raises(ExplainerError, match="a slice named 'tweets' exists"):
        store.save_slice(path, made("tweets"))
    assert len(store.read_slices(path)) == 1


def test_a_damaged_file_is_named_with_what_to_do(tmp_path):
    path = tmp_path / "c.slices.json"
    for text in ("{not json", json.dumps({"version": 9, "slices": []}), json.dumps({"version": 1, "slices": [{}]})):
        path.write_text(text)
        with pytest.raises(ExplainerError, match="not a saved-slices file.*move it away") as raised:
            store.read_slices(path)
        assert str(path) in str(raised.value)
    path.write_text(json.dumps({"version": 1, "slices": [{"name": "<script>", "examples": [1]}]}))
    with pytest.raises(ExplainerError, match="not a saved-slices file"):
        store.read_slices(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_says_to_set_the_corrections_directory(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(ExplainerError, match="EXPLAINER_CORRECTIONS_DIR"):
            store.save_slice(folder / "c.slices.json", made("x"))
    finally:
        folder.chmod(stat.S_IRWXU)


def test_a_directory_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "a file").write_text("")
    with pytest.raises(ExplainerError, match="cannot save the slices") as raised:
        store.save_slice(tmp_path / "a file" / "c.slices.json", made("x"))
    assert "\n" not in str(raised.value)


def test_writers_at_once_lose_no_slice_and_readers_never_see_half_a_file(tmp_path):
    path = tmp_path / "c.slices.json"
    errors: list[Exception] = []
    stop = threading.Event()

    def write(index: int) -> None:
        try:
            store.save_slice(path, made(f"slice {index}", range(index * 50, index * 50 + 500)))
        except Exception as error:  # noqa: BLE001 (collected and asserted on below)
            errors.append(error)

    def read() -> None:
        while not stop.is_set():
            try:
                store.read_slices(path)
            except Exception as error:  # noqa: BLE001
                errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(index,)) for index in range(12)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    reader.join()
    assert errors == []
    assert sorted(item.name for item in store.read_slices(path)) == sorted(f"slice {index}" for index in range(12))
