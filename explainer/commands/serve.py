"""``explainer serve CACHE_OR_ROOT``: the development server (use gunicorn in production)."""

from __future__ import annotations

from pathlib import Path

from explainer.errors import ExplainerError


def register(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="open the app on a cache (or a directory of caches)")
    parser.add_argument("cache", help="a cache directory, or a root directory holding several")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8050, help="port (default: 8050)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from explainer.app.factory import create_app
    from explainer.app.settings import Settings
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
    app = create_app(Settings.from_env(cache=root))
    print(f"Serving {root} at http://{args.host}:{args.port}/ (Ctrl+C to stop)", flush=True)
    app.run(host=args.host, port=args.port, debug=False)
    return 0
