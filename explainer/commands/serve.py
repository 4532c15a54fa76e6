"""``explainer serve CACHE_OR_ROOT``: the app under gunicorn, with the settings of ``gunicorn.conf.py``.

The same production server as ``gunicorn -c gunicorn.conf.py app:server`` (workers, threads, timeouts,
torch threads per worker, the warm-up of each worker), on the address of ``--host``/``--port``
instead of the file's ``bind``. ``gunicorn.conf.py`` is the wheel's copy inside the package (setup.py puts it
there), else the source checkout's; Ctrl+C (or SIGTERM) stops the workers gracefully.
"""

from __future__ import annotations

from pathlib import Path

from explainer.errors import ExplainerError

PACKAGED_CONF = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"
GUNICORN_CONF = PACKAGED_CONF if PACKAGED_CONF.is_file() else Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def register(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="open the app on a cache (or a directory of caches)")
    parser.add_argument("cache", help="a cache directory, or a root directory holding several")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8050, help="port (default: 8050)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from explainer.cache.reader import list_caches

    root = Path(args.cache)
    if not root.exists():
        raise ExplainerError(
            f"{root} does not exist: pass a cache built with `explainer build` or a directory of caches"
        )
    if not list_caches(root):
        raise ExplainerError(
            f"no cache in {root}: build one with `explainer build --model M --dataset D --out {root}/NAME`"
        )
    if not GUNICORN_CONF.is_file():
        raise ExplainerError(
            f"{GUNICORN_CONF} not found: `explainer serve` reads gunicorn's settings from the package or a checkout; "
            "run `EXPLAINER_CACHE=... gunicorn -c PATH/TO/gunicorn.conf.py app:server` from the checkout instead"
        )
    address = bind_address(args.host, args.port)
    print(f"Serving {root} at http://{address}/ with gunicorn (Ctrl+C to stop)", flush=True)
    try:
        gunicorn_application(root.resolve(), address).run()
    except SystemExit as stopped:  # the arbiter exits the process when it halts (0 on Ctrl+C / SIGTERM)
        return stopped.code if isinstance(stopped.code, int) else 1
    return 0


def bind_address(host: str, port: int) -> str:
    """gunicorn's ``bind`` for a host and port (an IPv6 address in brackets)."""
    if not 0 < port < 65536:
        raise ExplainerError(f"--port {port}: must be from 1 to 65535")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def gunicorn_application(cache: Path, address: str):
    """A gunicorn application with the settings of ``gunicorn.conf.py`` (hooks included), bound to
    ``address``, whose workers each create the app on ``cache``."""
    from gunicorn.app.base import Application

    class ExplainerApplication(Application):
        def init(self, parser, opts, args):  # pragma: no cover - only the command-line parser calls it
            return None

        def load_config(self) -> None:
            self.load_config_from_file(str(GUNICORN_CONF))
            self.cfg.set("bind", [address])

        def load(self):
            from explainer.app.factory import create_app
            from explainer.app.settings import Settings

            return create_app(Settings.from_env(cache=cache)).server

    return ExplainerApplication(prog="explainer serve")
