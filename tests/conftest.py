import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """Directory of a tiny random BERT token classifier with the CoNLL labels (built once per run)."""
    from helpers import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not present")
    return SHARED_DATA


# Browser tests (dash[testing]): Debian's chromium + chromium-driver, headless, no network chatter.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
)


def pytest_setup_options():
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    import shutil

    chromium = shutil.which("chromium")
    if chromium:
        options.binary_location = chromium
    return options


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A CoNLL file of 60 sentences with every entity type, a long sentence and hostile text."""
    from helpers import fixture_sentences, write_conll

    return write_conll(tmp_path_factory.mktemp("data") / "tiny.conll", fixture_sentences())


@pytest.fixture(scope="session")
def tiny_cache(tiny_model, tiny_dataset, tmp_path_factory):
    """A cache built by `explainer build` from the tiny model and dataset (once per test run)."""
    from explainer.cli import main

    out = tmp_path_factory.mktemp("caches") / "tiny"
    assert main(["build", "--model", str(tiny_model), "--dataset", str(tiny_dataset), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_cache_vs(tiny_dataset, tmp_path_factory):
    """A cache of the tiny data by a second tiny model (another seed): what Compare pairs with tiny_cache."""
    from helpers import make_tiny_model

    from explainer.cli import main

    model = make_tiny_model(tmp_path_factory.mktemp("tiny-model-b"), seed=1)
    out = tmp_path_factory.mktemp("caches-vs") / "tiny-b"
    assert main(["build", "--model", str(model), "--dataset", str(tiny_dataset), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_cache_other_data(tiny_model, tmp_path_factory):
    """A cache of the tiny data with one gold tag corrected (as after a merge): Compare must refuse to pair it."""
    from helpers import fixture_sentences, write_conll

    from explainer.cli import main

    sentences = fixture_sentences()
    word, tag = sentences[3][0]
    sentences[3][0] = (word, "O" if tag != "O" else "B-MISC")
    dataset = write_conll(tmp_path_factory.mktemp("data-other") / "tiny.conll", sentences)
    out = tmp_path_factory.mktemp("caches-other") / "tiny-other"
    assert main(["build", "--model", str(tiny_model), "--dataset", str(dataset), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def one_torch_thread():
    """As the app runs live inference (EXPLAINER_TORCH_THREADS defaults to 1); restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def live(tiny_model, one_torch_thread):
    """The tiny model loaded the way the app's probing loads it."""
    from explainer.inference.model import LiveModel

    return LiveModel.load(str(tiny_model))


@pytest.fixture(scope="session")
def tiny_cache_dynamics(tiny_model, tiny_dataset, tmp_path_factory):
    """A cache of the tiny data by a tiny model trained on it with --record-dynamics (2 short epochs): the
    Data map's and the margin signal's cache. Returns the cache; its model is ``<cache>/../model``."""
    from explainer.cli import main

    root = tmp_path_factory.mktemp("dynamics")
    model, out = root / "model", root / "caches" / "tiny-dynamics"
    train = ["train", "--base", str(tiny_model), "--dataset", str(tiny_dataset), "--eval-dataset", str(tiny_dataset)]
    train += ["--out", str(model), "--epochs", "2", "--batch-size", "16", "--lr", "1e-3", "--record-dynamics"]
    assert main(train) == 0
    assert main(["build", "--model", str(model), "--dataset", str(tiny_dataset), "--out", str(out)]) == 0
    return out
