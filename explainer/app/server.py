"""Flask-level configuration for production: headers, health checks, limits and error pages.

``configure_server(app, settings)`` is called by ``create_app``. It

- sends a Content-Security-Policy whose ``frame-ancestors`` lists the origins allowed to embed the
  app (``EXPLAINER_FRAME_ANCESTORS``), and the usual hardening headers;
- serves ``healthz`` (the process answers; touches no cache) and ``readyz`` (a cache opens and its
  manifest is valid) under the app's route prefix;
- caps request bodies (``EXPLAINER_MAX_CONTENT_LENGTH``) so an oversized POST gets a 413;
- turns every error into a short page with no stack trace, no file path and no environment: the
  details go to the server log under a reference the page shows;
- keeps the server's absolute paths out of every response (:class:`PathHider`): the cache root reads
  ``$EXPLAINER_CACHE``, a model directory or dataset file named in a manifest reads by its name.

``callback_error_handler(settings)`` is Dash's ``on_error``: a failing callback leaves its outputs
as they are and shows the reason in the page-level alert ``PAGE_ERROR_ID`` instead.

Run ``python -m explainer.app.server healthcheck`` for a container's HEALTHCHECK.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from flask import Response, request
from werkzeug.exceptions import HTTPException

from explainer.app.settings import Settings
from explainer.errors import ExplainerError

LOG = logging.getLogger("explainer.app")
PAGE_ERROR_ID = "page-error"
CALLBACK_PATH = "_dash-update-component"
CACHE_PLACEHOLDER = "$EXPLAINER_CACHE"
# An absolute POSIX path in a message: a slash that does not continue a word, a path or a URL.
_PATH_CHARS = r"[^\s/'\"`<>|;,()\[\]{}]"
ABSOLUTE_PATH = re.compile(rf"(?<![\w.~$:/-])/{_PATH_CHARS}+(?:/{_PATH_CHARS}*)*")
_NOT_IN_A_PATH = r"(?<![\w.~$/-])"  # a known path starts here, not in the middle of another one
_SEPARATOR = r"(?:/|\\u002f)"  # Dash's JSON writes every slash as \u002f
# X-Frame-Options for the frame-ancestors values it can express (it cannot name another origin).
FRAME_OPTIONS: dict[tuple[str, ...], str] = {("'self'",): "SAMEORIGIN", ("'none'",): "DENY"}


def configure_server(app, settings: Settings) -> None:
    """Harden ``app.server`` (the Flask app of Dash ``app``) for serving behind a proxy.

    Parameters
    ----------
    app : dash.Dash
        The app, with its callbacks registered (the CSP hashes Dash's inline scripts).
    settings : Settings
    """
    server = app.server
    # Never the Werkzeug debugger or propagated tracebacks, whatever FLASK_DEBUG says.
    server.config.update(
        DEBUG=False,
        PROPAGATE_EXCEPTIONS=False,
        TRAP_HTTP_EXCEPTIONS=False,
        MAX_CONTENT_LENGTH=settings.max_content_length,
    )
    server.debug = False
    headers = _HeaderPolicy(app, settings)
    server.after_request(headers.apply)
    server.after_request(PathHider(settings.cache).apply)
    server.add_url_rule(settings.routes_prefix + "healthz", "explainer_healthz", healthz)
    server.add_url_rule(settings.routes_prefix + "readyz", "explainer_readyz", lambda: readyz(settings))
    _register_error_handlers(server, settings)


# ----------------------------------------------------------------------------------------- headers


def content_security_policy(*, script_hashes, frame_ancestors) -> str:
    """The CSP of every response.

    Scripts come only from this origin plus Dash's own inline bootstrap scripts (by hash): no
    'unsafe-inline' and no 'unsafe-eval' for scripts. Styles allow inline ones because React,
    Plotly and AG Grid set them at run time. Images and fonts may be data: URIs (Bootstrap's
    icons, Plotly's exports).
    """
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": list(frame_ancestors),
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


class _HeaderPolicy:
    """Adds the security headers; the CSP is computed on the first response, once every inline
    script (clientside callbacks included) is known."""

    def __init__(self, app, settings: Settings):
        self._app = app
        self._settings = settings
        self._csp: str | None = None

    def csp(self) -> str:
        if self._csp is None:
            self._csp = content_security_policy(
                script_hashes=self._app.csp_hashes(), frame_ancestors=self._settings.frame_ancestors
            )
        return self._csp

    def apply(self, response: Response) -> Response:
        headers = response.headers
        headers["Content-Security-Policy"] = self.csp()
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
        frame_option = FRAME_OPTIONS.get(self._settings.frame_ancestors)
        if frame_option:  # for older browsers
            headers["X-Frame-Options"] = frame_option
        if request.path.endswith((CALLBACK_PATH, "healthz", "readyz")):
            headers["Cache-Control"] = "no-store"
        return response


# ----------------------------------------------------------------------------------------- health


def healthz() -> Response:
    """The process answers. Reads nothing from disk, so it stays cheap under any load."""
    return _json({"status": "ok"}, 200)


def readyz(settings: Settings) -> Response:
    """Ready when at least one cache under ``settings.cache`` opens with a valid manifest.

    Every cache's state is listed (``ok``, or ``broken`` with the reason, files named relative to the
    cache root) so an operator sees which to rebuild; one broken cache does not make the service unready.
    """
    ready, details = readiness(settings.cache)
    return _json({"status": "ready" if ready else "unavailable", **details}, 200 if ready else 503)


def readiness(root: Path) -> tuple[bool, dict[str, object]]:
    """``(ready, details)`` for the cache root: opens every cache's manifest (small files only)."""
    from explainer.app.caches import CacheRegistry  # it imports this module
    from explainer.cache.reader import list_caches

    try:
        paths = list_caches(root)
    except (ExplainerError, OSError) as error:
        return False, {"reason": user_message(error, cache_root=root)}
    if not paths:
        return False, {
            "reason": user_message(
                ExplainerError(
                    f"no cache found under {root}: build one with "
                    f"`explainer build --model M --dataset D --out "
                    f"{root}/NAME`"
                ),
                cache_root=root,
            )
        }
    problems = CacheRegistry(root).states()
    states = {
        key: {"state": "ok"} if problem is None else {"state": "broken", "reason": problem}
        for key, problem in problems.items()
    }
    served = sum(problem is None for problem in problems.values())
    details: dict[str, object] = {"caches": served, "states": states}
    if not served:
        details["reason"] = "no cache opens: " + "; ".join(f"{key}: {problem}" for key, problem in problems.items())
    return served > 0, details


# ----------------------------------------------------------------------------------------- errors


def user_message(error: BaseException, *, cache_root: Path | str | None = None) -> str:
    """What a user may read about ``error``: the reason and what to do, with no server path.

    An ``ExplainerError`` is already written for users; the cache root in it becomes
    ``$EXPLAINER_CACHE``. A file-system error says which setting to check. Anything else is a
    bug: the message is generic and carries a reference to the full traceback in the server log.
    """
    if isinstance(error, ExplainerError):
        return redact(str(error), cache_root=cache_root)
    if isinstance(error, OSError):
        reason = (error.strerror or type(error).__name__).lower()
        LOG.warning("file-system error while serving: %s", error)
        return (
            f"the caches cannot be read ({reason}): check that {CACHE_PLACEHOLDER} is mounted and readable "
            f"by the app's user, then reload the page"
        )
    reference = log_internal_error(error)
    return f"Something went wrong while updating this view (reference {reference}); the details are in the server log."


def redact(message: str, *, cache_root: Path | str | None) -> str:
    """``message`` with no absolute server path: the cache root becomes ``$EXPLAINER_CACHE``, any other
    absolute path its last part (a model directory's name, a dataset's file name)."""
    if cache_root is not None:
        message = _root_pattern(cache_root).sub(CACHE_PLACEHOLDER, message)
    return ABSOLUTE_PATH.sub(lambda match: _last_part(match.group()), message)


def _last_part(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] or path


def _root_forms(cache_root: Path | str) -> set[str]:
    root = Path(cache_root)
    forms = {str(root.absolute()), str(root.resolve())}
    if root.is_absolute():
        forms.add(str(root))
    return {form for form in forms if form not in ("/", ".")}


def _root_pattern(cache_root: Path | str) -> re.Pattern[str]:
    forms = sorted(_root_forms(cache_root), key=len, reverse=True)
    return re.compile(_NOT_IN_A_PATH + "(?:" + "|".join(map(_escaped, forms)) + r")(?![\w.-])")


def _escaped(path: str) -> str:
    """A pattern for ``path`` as written in text or in JSON (with its slashes escaped)."""
    return _SEPARATOR.join(re.escape(part) for part in path.split("/"))


class PathHider:
    """Keeps the server's absolute paths out of every response a client gets (callbacks, pages, health).

    Messages are written with :func:`user_message`, but a section may show a manifest, a rebuild command
    or an error carrying the model's or dataset's path; this is the one place that guarantees none
    reaches a client. Only paths the server knows are replaced (the cache root, and each path named in a
    cache's manifest or ``EXPLAINER_MODEL``), so dataset text that merely looks like a path is left alone:
    the cache root reads ``$EXPLAINER_CACHE``; a known path loses its directories (``/srv/models/bert``
    reads ``bert``, ``/srv/models/bert/config.json`` reads ``bert/config.json``).
    """

    MIMETYPES = ("application/json", "text/html", "text/plain")

    def __init__(self, cache_root: Path | str):
        self.cache_root = Path(cache_root)
        self._root = _root_pattern(self.cache_root)
        self._root_needles = _needles(_root_forms(self.cache_root))
        self._directories: dict[tuple, frozenset[str]] = {}  # (cache dir, manifest stamp) -> directories
        self._pattern: tuple[frozenset[str], re.Pattern[str] | None, tuple[str, ...]] = (frozenset(), None, ())

    def hide(self, text: str) -> str:
        # A substring test first: most responses name no path, and it is ~100x cheaper than the patterns.
        if any(needle in text for needle in self._root_needles):
            text = self._root.sub(CACHE_PLACEHOLDER, text)
        _, pattern, needles = self._known_directories()
        if pattern is not None and any(needle in text for needle in needles):
            text = pattern.sub("", text)
        return text

    def apply(self, response: Response) -> Response:
        if response.direct_passthrough or response.is_streamed or response.mimetype not in self.MIMETYPES:
            return response
        text = response.get_data(as_text=True)
        hidden = self.hide(text)
        if hidden != text:
            response.set_data(hidden)
        return response

    def _known_directories(self) -> tuple[frozenset[str], re.Pattern[str] | None, tuple[str, ...]]:
        """``(directories, one pattern matching any of them followed by a slash, their literal forms)``."""
        directories = frozenset(self._collect())
        if directories != self._pattern[0]:
            ordered = sorted(directories, key=len, reverse=True)
            pattern = re.compile(_NOT_IN_A_PATH + "(?:" + "|".join(map(_escaped, ordered)) + ")" + _SEPARATOR)
            self._pattern = (directories, pattern if ordered else None, _needles(ordered))
        return self._pattern

    def _collect(self) -> Iterator[str]:
        from explainer.cache.reader import list_caches

        yield from _directories_of([os.environ.get("EXPLAINER_MODEL", "")], exclude=self._root)
        try:
            caches = list_caches(self.cache_root) if self.cache_root.exists() else []
        except (ExplainerError, OSError):
            return
        current = {}  # only the caches listed now: a rebuilt or removed cache's entry goes
        for cache in caches:
            key, directories = self._of_cache(cache)
            current[key] = directories
            yield from directories
        self._directories = current

    def _of_cache(self, cache: Path) -> tuple[tuple, frozenset[str]]:
        """``(cache and manifest stamp, directories of the paths its manifest names)``, read once per build."""
        try:
            stat = (cache / "manifest.json").stat()
        except OSError:
            return (str(cache),), frozenset()
        key = (str(cache), stat.st_ino, stat.st_mtime_ns)
        if key not in self._directories:
            try:
                manifest = json.loads((cache / "manifest.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                manifest = None
            return key, frozenset(_directories_of(_strings(manifest), exclude=self._root))
        return key, self._directories[key]


def _needles(paths: Iterable[str]) -> tuple[str, ...]:
    """Each path as text and as Dash's JSON writes it (slashes as ``\\u002f``)."""
    return tuple(form for path in paths for form in {path, path.replace("/", "\\u002f")})


def _strings(value: object) -> Iterator[str]:
    """Every string in a parsed JSON value (keys too)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _directories_of(texts: Iterable[str], *, exclude: re.Pattern[str]) -> Iterator[str]:
    """The directory of each absolute path in ``texts`` (not ``/``, nor one under the cache root)."""
    for text in texts:
        for path in ABSOLUTE_PATH.findall(text):
            directory = path.rstrip("/").rsplit("/", 1)[0]
            if directory and not exclude.match(path):
                yield directory


def relative_message(error: BaseException, *, cache_root: Path | str) -> str:
    """:func:`user_message` with the files under the cache root named relative to it (``name/manifest.json``)."""
    return user_message(error, cache_root=cache_root).replace(CACHE_PLACEHOLDER + "/", "")


def log_internal_error(error: BaseException) -> str:
    """Log ``error`` with its traceback; returns the short reference shown to the user."""
    reference = uuid.uuid4().hex[:8]
    LOG.error("internal error %s", reference, exc_info=(type(error), error, error.__traceback__))
    return reference


def callback_error_handler(settings: Settings):
    """Dash's ``on_error``: show why a callback failed in the page-level alert, keep its outputs."""
    from dash import set_props

    def on_error(error: Exception):
        set_props(PAGE_ERROR_ID, {"children": user_message(error, cache_root=settings.cache), "is_open": True})
        return None  # Dash turns None into no_update for every output

    return on_error


def _register_error_handlers(server, settings: Settings) -> None:
    from dash.exceptions import DependencyException, InvalidCallbackReturnValue

    limit_kib = settings.max_content_length // 1024

    @server.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        message = error.name
        if error.code == 413:
            message = f"Request too large: the limit is {limit_kib} KiB"
        return _error_response(error.code or 500, message)

    @server.errorhandler(DependencyException)
    def unknown_component_file(error):  # a _dash-component-suites path Dash does not serve
        return _error_response(404, "Not Found")

    @server.errorhandler(Exception)
    def internal_error(error: Exception):
        # Callback bodies never get here (on_error handles them), so an exception while
        # dispatching a callback comes from a request that is not what the page sends.
        if request.path.endswith(CALLBACK_PATH) and not isinstance(error, InvalidCallbackReturnValue):
            LOG.warning("malformed callback request: %s: %s", type(error).__name__, error)
            return _error_response(400, "Bad Request: malformed callback request")
        reference = log_internal_error(error)
        return _error_response(500, f"Internal Server Error (reference {reference}); the details are in the server log")


def _error_response(status: int, message: str) -> Response:
    if request.path.endswith((CALLBACK_PATH, "healthz", "readyz")) or request.is_json:
        return _json({"error": message}, status)
    return Response(f"{status} {message}\n", status=status, mimetype="text/plain")


def _json(payload: dict, status: int) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


# ------------------------------------------------------------------------------------- healthcheck


def healthcheck_url(environ=None) -> str:
    """The local URL of ``healthz`` for the bind and prefix configured in ``environ``."""
    environ = os.environ if environ is None else environ
    bind = environ.get("EXPLAINER_BIND", "").split(",")[0].strip()
    port = bind.rsplit(":", 1)[-1] if ":" in bind else environ.get("PORT", "8000")
    settings = Settings.from_env(environ)
    return f"http://127.0.0.1:{port}{settings.routes_prefix}healthz"


def main(argv=None) -> int:
    """``python -m explainer.app.server healthcheck``: exit 0 when healthz answers 200."""
    from urllib.error import URLError
    from urllib.request import urlopen

    argv = sys.argv[1:] if argv is None else argv
    if argv != ["healthcheck"]:
        print("usage: python -m explainer.app.server healthcheck", file=sys.stderr)
        return 2
    url = healthcheck_url()
    try:
        with urlopen(url, timeout=5) as response:  # a fixed local http URL (healthcheck_url)
            return 0 if response.status == 200 else 1
    except (URLError, OSError) as error:
        print(f"healthcheck: {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
