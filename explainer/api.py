"""The Python API: ``build`` a cache, open it as frames (``Cache.open``), ``show`` the app from a notebook or script.

Everything here goes through the same code as the command line: :func:`build` checks its keyword options
against ``BuildOptions`` (explainer/pipeline/options.py, the one declaration of the build's options) and
runs the same build; :func:`show` serves the same app ``explainer serve`` does.

A model or dataset given as a Python object is saved beside the cache, in ``<out>.inputs/``, so that the
cache's rebuild command and the app's live inference (Probing, Explain) can load it again later.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import webbrowser
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from explainer.cache.reader import Cache
from explainer.errors import ExplainerError

if TYPE_CHECKING:
    import dash

# Dash's jupyter_mode values, and two for scripts: "browser" serves and opens a tab, "server" only serves.
ShowMode = Literal["inline", "jupyterlab", "tab", "external", "browser", "server"]
JUPYTER_MODES = ("inline", "jupyterlab", "tab", "external")
# A notebook page (any local port) frames the app inline: the app's CSP must name it.
NOTEBOOK_ANCESTORS = ("'self'", "http://localhost:*", "http://127.0.0.1:*")


@overload
def build(
    model: list[str | Path] | tuple[str | Path, ...],
    dataset: Any,
    out: str | Path,
    *,
    tokenizer: Any = None,
    progress: bool = False,
    **options: Any,
) -> list[Cache]: ...


@overload
def build(
    model: Any,
    dataset: Any,
    out: str | Path,
    *,
    tokenizer: Any = None,
    progress: bool = False,
    **options: Any,
) -> Cache: ...


def build(
    model: Any,
    dataset: Any,
    out: str | Path,
    *,
    tokenizer: Any = None,
    progress: bool = False,
    **options: Any,
) -> Cache | list[Cache]:
    """Build the cache of ``model`` on ``dataset`` at ``out`` and open it, as ``explainer build`` does.

    Parameters
    ----------
    model : str, Path, a transformers token-classification model, a transformers pipeline, or a list
        A local model directory or Hub id, or a model object (saved to ``<out>.inputs/model``; its
        ``tokenizer`` is needed, from the argument or from the directory the model was loaded from).
        A list of model directories or Hub ids (e.g. the checkpoints of one training run) builds one
        cache per model in ``out``, named after the model directory, as ``explainer build --model A
        --model B`` does: the dataset is loaded and tokenised once.
    dataset : str, Path, datasets.Dataset or datasets.DatasetDict
        A dataset file, directory or Hub name (every form ``--dataset`` takes), or a dataset object
        (saved to ``<out>.inputs/dataset``) with a words column and a tags column.
    out : str or Path
        The cache directory to write (replaced if it is a cache); with a list of models, the directory
        that holds their caches.
    tokenizer : a fast tokenizer, optional
        The model object's tokenizer.
    progress : bool, default False
        Show the forward pass's progress bar.
    **options
        Any other option of ``explainer build`` by its field name: ``batch_size=8``, ``projection="pca"``,
        ``label_quality="none"``... (``explainer build --help`` lists them; ``--batch-size`` is ``batch_size``).

    Returns
    -------
    Cache or list of Cache
        The cache just written (see :meth:`Cache.frames` and :attr:`Cache.metrics`); with a list of
        models, their caches in the same order.

    Raises
    ------
    ExplainerError
        On an unknown option or a value of the wrong type, and on every input problem the command reports.
    """
    from explainer.pipeline.options import BuildOptions, from_keywords
    from explainer.pipeline.pipeline import build_cache

    if "write_label_map_template" in options:
        raise ExplainerError("build(): write_label_map_template is a command-line request; use explainer build")
    out = Path(out).expanduser().absolute()
    # Options checked before a model or dataset object is saved (model and dataset are placeholders here).
    checked = from_keywords(BuildOptions, {"model": "-", "dataset": "-", "out": str(out), **options}, caller="build()")
    inputs = out.parent / f"{out.name}.inputs"
    if isinstance(model, list | tuple):
        return _build_several(list(model), dataset, checked, inputs=inputs, progress=progress)
    checked = replace(
        checked,
        model=model_location(model, tokenizer=tokenizer, inputs=inputs),
        dataset=dataset_location(dataset, inputs=inputs),
    )
    manifest = build_cache(checked, progress=progress)
    if manifest is None:  # a non-zero rank of a torchrun build: rank 0 writes the cache
        raise ExplainerError(NOT_RANK_ZERO)
    return Cache.open(out)


NOT_RANK_ZERO = "build(): this process is not rank 0 of a sharded build; open the cache from rank 0"


def _build_several(models: list[Any], dataset: Any, checked: Any, *, inputs: Path, progress: bool) -> list[Cache]:
    """One cache per model directory or Hub id in ``checked.out`` (explainer/pipeline/several.py)."""
    from explainer.pipeline.several import build_caches, options_per_model

    if not models:
        raise ExplainerError("build(): model is an empty list; give at least one model directory or Hub id")
    objects = [type(one).__name__ for one in models if not isinstance(one, str | Path)]
    if objects:
        raise ExplainerError(
            f"build(): a list of models takes model directories or Hub ids (their caches are named after "
            f"them), not a {objects[0]}; save the model with save_pretrained() first"
        )
    many = options_per_model(
        replace(checked, dataset=dataset_location(dataset, inputs=inputs)), [str(m) for m in models]
    )
    manifests = build_caches(many, progress=progress)
    if any(manifest is None for manifest in manifests):
        raise ExplainerError(NOT_RANK_ZERO)
    return [Cache.open(one.out) for one in many]


def model_location(model: Any, *, tokenizer: Any = None, inputs: Path) -> str:
    """A model directory or Hub id for ``model``: a path or name as given, a model object saved to ``inputs``."""
    if isinstance(model, str | Path):
        return str(model)
    if hasattr(model, "model") and hasattr(model, "tokenizer"):  # a transformers pipeline
        model, tokenizer = model.model, tokenizer or model.tokenizer
    if not hasattr(model, "save_pretrained") or not hasattr(model, "config"):
        raise ExplainerError(
            f"build(): model is a {type(model).__name__}; pass a model directory, a Hub id, or a transformers "
            "token-classification model (with tokenizer=)"
        )
    if tokenizer is None:
        tokenizer = _tokenizer_beside(model)
    target = _fresh_directory(inputs / "model")
    model.save_pretrained(target)  # safetensors: the build refuses pickled weights
    tokenizer.save_pretrained(target)
    return str(target)


def dataset_location(dataset: Any, *, inputs: Path) -> str:
    """A dataset spec for ``dataset``: a path or name as given, a ``datasets`` object saved to ``inputs``."""
    if isinstance(dataset, str | Path):
        return str(dataset)
    import datasets

    if not isinstance(dataset, datasets.Dataset | datasets.DatasetDict):
        raise ExplainerError(
            f"build(): dataset is a {type(dataset).__name__}; pass a dataset file or directory, a Hub name, "
            "or a datasets.Dataset / DatasetDict"
        )
    target = _fresh_directory(inputs / "dataset")
    dataset.save_to_disk(str(target))
    return str(target)


def _tokenizer_beside(model: Any) -> Any:
    """The tokenizer saved where ``model`` was loaded from (a local directory), else an error asking for it."""
    source = Path(str(getattr(model, "name_or_path", "") or ""))
    if source.is_dir() and (source / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(source))
    raise ExplainerError("build(): a model object needs its tokenizer; pass tokenizer=")


def _fresh_directory(path: Path) -> Path:
    """``path`` emptied (it lies in the build's own ``<out>.inputs`` directory) and created."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


# --- show -----------------------------------------------------------------------------------------------------


@dataclass
class Shown:
    """A running app: ``url`` to open, :meth:`stop` to end it (also on leaving a ``with`` block)."""

    app: dash.Dash
    url: str
    mode: str
    _server: Any = field(repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def layout(self) -> dict[str, Any]:
        """The app's layout as the browser receives it (``_dash-layout``), fetched over HTTP."""
        import json
        from urllib.request import urlopen

        with urlopen(self.url + "_dash-layout", timeout=30) as response:  # noqa: S310  (our own local URL)
            loaded: dict[str, Any] = json.loads(response.read())
        return loaded

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> Shown:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def show(
    cache: Cache | str | Path,
    *,
    mode: ShowMode | None = None,
    port: int | None = None,
    height: int = 800,
    frame_ancestors: tuple[str, ...] | None = None,
) -> Shown:
    """Serve the app over ``cache`` (a :class:`Cache`, a cache directory or a directory of caches) on
    127.0.0.1 and show it.

    Parameters
    ----------
    mode : {"inline", "jupyterlab", "tab", "external", "browser", "server"}, optional
        In Jupyter, Dash's ``jupyter_mode`` (default ``"inline"``: the app in the cell's output); from a
        script ``"browser"`` (the default: opens a browser tab) or ``"server"`` (only serves).
    port : int, optional
        Default: a free port.
    height : int
        Of the inline frame, in pixels.
    frame_ancestors : tuple of str, optional
        Origins allowed to frame the app (default: local notebook servers in Jupyter modes, else the app itself).

    Returns
    -------
    Shown
        Holding the ``url``; ``stop()`` ends the server.
    """
    from dash._jupyter import jupyter_dash

    from explainer.app.factory import create_app
    from explainer.app.settings import Settings

    path = cache.path if isinstance(cache, Cache) else Path(cache).expanduser().absolute()
    if not path.exists():
        raise ExplainerError(f"show(): {path} does not exist; pass a cache directory or a directory of caches")
    in_jupyter = jupyter_dash.active
    mode = mode or ("inline" if in_jupyter else "browser")
    if mode in JUPYTER_MODES and not in_jupyter:
        raise ExplainerError(
            f"show(mode={mode!r}) displays in a Jupyter kernel only (with ipykernel installed); "
            "from a script use mode='browser' or 'server'"
        )
    ancestors = frame_ancestors or (NOTEBOOK_ANCESTORS if mode in JUPYTER_MODES else ("'self'",))
    app = create_app(Settings.from_env(cache=path, url_prefix="/", frame_ancestors=ancestors))
    port = port or free_port()
    host = "127.0.0.1"
    if mode in JUPYTER_MODES:
        app.run(host=host, port=port, jupyter_mode=mode, jupyter_height=height)  # type: ignore[arg-type]
        server = jupyter_dash._servers.get((host, port))  # Dash keeps the server it started by address
        return Shown(app=app, url=f"http://{host}:{port}/", mode=mode, _server=server)
    from werkzeug.serving import make_server

    server = make_server(host, port, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"explainer-show-{port}", daemon=True)
    thread.start()
    shown = Shown(app=app, url=f"http://{host}:{port}/", mode=mode, _server=server, _thread=thread)
    if mode == "browser":
        webbrowser.open(shown.url)
    return shown


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
