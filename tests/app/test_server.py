"""Security: no unsafe deserialisation or remote code in the source, strict headers, no debugger,
and error pages that reveal nothing (no stack trace, no server path, no environment)."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import logging
import re
import shutil
from pathlib import Path

import pytest
from dash import Input, Output
from helpers import REPO_ROOT

from explainer.app.factory import create_app
from explainer.app.server import PAGE_ERROR_ID, content_security_policy
from explainer.app.settings import Settings
from explainer.errors import ExplainerError

REPO = REPO_ROOT
SCANNED = [REPO / "explainer", REPO / "app.py", REPO / "gunicorn.conf.py", REPO / "assets"]

UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
CDN_HOSTS = (
    "cdn.jsdelivr.net",
    "unpkg.com",
    "cdnjs.cloudflare.com",
    "cdn.plot.ly",
    "fonts.googleapis.com",
    "fonts.gstatic.com",
    "bootstrapcdn.com",
    "code.jquery.com",
    "ajax.googleapis.com",
)
# Hosts plotly.js fetches map styles, tiles, fonts and chart-studio pages from (assets/README.md: the vendored
# bundle has them rewritten to same-origin paths, so no file here may name them).
REMOTE_CONTENT_HOSTS = (
    "basemaps.cartocdn.com",
    "fonts.openmaptiles.org",
    "server.arcgisonline.com",
    "tilemaps.icgc.cat",
    "geoserveis.icgc.cat",
    "tile.openstreetmap.org",
    "cloud.plotly.com",
)
TEXT_PATTERNS = ("dangerouslySetInnerHTML", "dangerously_allow_html", *CDN_HOSTS, *REMOTE_CONTENT_HOSTS)
# Keyword arguments that must never be the constant True (or False, for weights_only).
FORBIDDEN_TRUE = {"allow_pickle", "trust_remote_code", "dangerously_allow_html"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def forbidden_uses(path: Path) -> list[str]:
    """What in ``path`` breaks the rules: unsafe deserialisation, remote code, raw HTML, CDN URLs."""
    text = path.read_text(encoding="utf-8", errors="replace")
    found = []
    if path.suffix != ".py":
        return [f"{path.name}: {pattern}" for pattern in TEXT_PATTERNS if pattern in text]
    for node in ast.walk(ast.parse(text, filename=str(path))):
        where = f"{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where}: import {a.name}" for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
            found.append(f"{where}: from {node.module} import")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in ("torch.load", "eval", "exec") or name.split(".")[0] in UNSAFE_MODULES:
                found.append(f"{where}: {name}()")
            for keyword in node.keywords:
                constant = keyword.value.value if isinstance(keyword.value, ast.Constant) else None
                if keyword.arg in FORBIDDEN_TRUE and constant is True:
                    found.append(f"{where}: {keyword.arg}=True")
                if keyword.arg == "weights_only" and constant is False:
                    found.append(f"{where}: weights_only=False")
                if keyword.arg in ("external_stylesheets", "external_scripts"):
                    found.append(f"{where}: {keyword.arg}= (assets come from assets/, not a URL)")
        elif isinstance(node, ast.Attribute) and _dotted(node) in ("dbc.themes", "dbc.icons"):
            found.append(f"{where}: {_dotted(node)} (a CDN URL; the CSS lives in assets/)")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [f"{where}: {host}" for host in CDN_HOSTS if host in node.value]
    return found


def scanned_files() -> list[Path]:
    files = []
    for root in SCANNED:
        files += [root] if root.is_file() else [p for p in root.rglob("*") if p.suffix in (".py", ".js", ".css")]
    return files


def test_source_tree_has_no_unsafe_loading_remote_code_raw_html_or_cdn():
    files = scanned_files()
    assert any(f.name == "reader.py" for f in files) and any(f.suffix == ".css" for f in files)
    problems = [problem for path in files for problem in forbidden_uses(path)]
    assert problems == []


def test_the_scanner_catches_each_forbidden_use(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(
        "import pickle\nfrom joblib import load\nimport torch, numpy as np, dash_bootstrap_components as dbc\n"
        "torch.load('m.pt')\nnp.load('a.npy', allow_pickle=True)\nf(trust_remote_code=True)\n"
        "torch.load('m.pt', weights_only=False)\nx = dbc.themes.BOOTSTRAP\nu = 'https://cdn.jsdelivr.net/x.js'\n"
        "Markdown('x', dangerously_allow_html=True)\neval('1')\nDash(external_stylesheets=['x.css'])\n"
        "np.load('a.npy', allow_pickle=False)  # fine\nf(trust_remote_code=flag)  # fine: the user's choice\n"
    )
    found = "\n".join(forbidden_uses(planted))
    for expected in (
        "import pickle",
        "from joblib",
        "torch.load()",
        "allow_pickle=True",
        "trust_remote_code=True",
        "weights_only=False",
        "dbc.themes",
        "cdn.jsdelivr.net",
        "dangerously_allow_html=True",
        "eval()",
        "external_stylesheets",
    ):
        assert expected in found, expected
    assert len(forbidden_uses(planted)) == 12  # torch.load twice; the two fine lines are not flagged
    script = tmp_path / "x.js"
    script.write_text("el.dangerouslySetInnerHTML = {__html: s}; fetch('https://unpkg.com/a')")
    assert len(forbidden_uses(script)) == 2
    # The vendored plotly bundle is scanned like any asset: its remote hosts were rewritten (assets/README.md).
    bundle = REPO / "assets" / "plotly-strict.min.js"
    assert forbidden_uses(bundle) == []
    map_style = tmp_path / "map.js"
    map_style.write_text('tiles:["https://tile.openstreetmap.org/{z}/{x}/{y}.png"]')
    assert forbidden_uses(map_style) == ["map.js: tile.openstreetmap.org"]


@pytest.fixture
def app(tiny_cache, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")  # must not turn the debugger on
    return create_app(Settings(cache=tiny_cache.parent, frame_ancestors=("'self'", "https://portal.example.com")))


def test_debugger_is_off_even_with_flask_debug(app):
    assert app.server.debug is False
    assert app.server.config["PROPAGATE_EXCEPTIONS"] is False
    assert not app._dev_tools.ui and not app._dev_tools.serve_dev_bundles


def test_forced_500_shows_a_generic_message_and_logs_the_traceback(app, tiny_cache, monkeypatch, caplog):
    monkeypatch.setenv("EXPLAINER_TEST_SECRET", "s3cr3t-value")
    secret_path = str(tiny_cache / "manifest.json")

    def explode():
        raise RuntimeError(f"boom at {secret_path} with s3cr3t-value")

    app.server.add_url_rule("/explode-for-test", "explode_for_test", explode)
    with caplog.at_level(logging.ERROR, logger="explainer.app"):
        response = app.server.test_client().get("/explode-for-test")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Internal Server Error (reference " in body
    for leak in ("Traceback", "boom", secret_path, str(REPO), "s3cr3t-value", "RuntimeError", ".py"):
        assert leak not in body, leak
    reference = re.search(r"reference (\w+)", body).group(1)
    assert any(reference in record.getMessage() and record.exc_info for record in caplog.records)


def test_a_failing_callback_says_so_in_the_page_without_details(tiny_cache, caplog):
    app = create_app(Settings(cache=tiny_cache.parent))
    secret_path = str(tiny_cache)

    @app.callback(Output("headline", "title"), Input("tabs", "active_tab"))
    def failing(tab):
        raise KeyError(f"{secret_path} exploded")

    client = app.server.test_client()
    body = {
        "output": "headline.title",
        "outputs": {"id": "headline", "property": "title"},
        "inputs": [{"id": "tabs", "property": "active_tab", "value": "metrics"}],
        "changedPropIds": ["tabs.active_tab"],
        "state": [],
    }
    with caplog.at_level(logging.ERROR, logger="explainer.app"):
        response = client.post("/_dash-update-component", json=body)
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    alert = response.get_json()["sideUpdate"][PAGE_ERROR_ID]
    assert alert["is_open"] is True and "Something went wrong" in alert["children"]
    assert secret_path not in text and "Traceback" not in text and "KeyError" not in text
    assert any(record.exc_info for record in caplog.records)


def test_user_errors_name_the_setting_not_the_server_path(tiny_cache):
    from explainer.app.server import user_message

    error = ExplainerError(f"cannot read {tiny_cache}/spans.parquet (truncated); rebuild it with: explainer build")
    message = user_message(error, cache_root=tiny_cache.parent)
    assert str(tiny_cache) not in message and "$EXPLAINER_CACHE/tiny/spans.parquet" in message
    denied = user_message(PermissionError(13, "Permission denied", str(tiny_cache)), cache_root=tiny_cache.parent)
    assert "permission denied" in denied and "$EXPLAINER_CACHE" in denied and str(tiny_cache) not in denied


def _inline_script_hashes(html: str) -> set[str]:
    html = re.sub(r"<!--.*?-->", "", html, flags=re.S)  # e.g. Dash's IE notice, never executed
    scripts = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>(.*?)</script>", html, re.S)
    return {"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in scripts}


def test_csp_allows_only_own_scripts_and_the_configured_frame_ancestors(app):
    response = app.server.test_client().get("/")
    csp = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["frame-ancestors"] == "'self' https://portal.example.com"
    assert directives["default-src"] == "'self'" and directives["object-src"] == "'none'"
    script_src = directives["script-src"].split()
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    # Every inline script of the page (Dash's renderer bootstrap) is allowed by its hash, and only those.
    inline = _inline_script_hashes(response.get_data(as_text=True))
    assert inline and inline <= set(script_src)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "X-Frame-Options" not in response.headers  # it cannot name the portal; the CSP does


def test_default_embedding_is_same_origin_only(tiny_cache):
    response = create_app(Settings(cache=tiny_cache.parent)).server.test_client().get("/")
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"


@pytest.mark.parametrize(
    "value",
    [
        "https://a.example.com; script-src *",
        "javascript:alert(1)",
        "'unsafe-inline'",
        "https://a.example.com\r\nX-Evil: 1",
        "'none' https://a.example.com",
    ],
)
def test_frame_ancestors_refuses_anything_but_origins(value):
    with pytest.raises(ExplainerError, match="EXPLAINER_FRAME_ANCESTORS"):
        Settings.from_env({"EXPLAINER_FRAME_ANCESTORS": value})


def test_frame_ancestors_and_limits_from_the_environment():
    settings = Settings.from_env(
        {
            "EXPLAINER_FRAME_ANCESTORS": "self, https://portal.example.com:8443",
            "EXPLAINER_MAX_CONTENT_LENGTH": "256k",
            "EXPLAINER_PROXY_STRIPS_PREFIX": "yes",
            "EXPLAINER_URL_PREFIX": "tools/ner",
        }
    )
    assert settings.frame_ancestors == ("'self'", "https://portal.example.com:8443")
    assert settings.max_content_length == 256 * 1024
    assert (settings.url_prefix, settings.routes_prefix) == ("/tools/ner/", "/")
    assert content_security_policy(script_hashes=[], frame_ancestors=("'none'",)).endswith("frame-ancestors 'none'")
    for name, value in (("EXPLAINER_MAX_CONTENT_LENGTH", "lots"), ("EXPLAINER_PROXY_STRIPS_PREFIX", "maybe")):
        with pytest.raises(ExplainerError, match=name):
            Settings.from_env({name: value})


def test_oversized_post_gets_413(tiny_cache):
    app = create_app(Settings(cache=tiny_cache.parent, max_content_length=2048))
    client = app.server.test_client()
    body = {
        "output": "x.y",
        "outputs": {"id": "x", "property": "y"},
        "inputs": [],
        "state": [],
        "changedPropIds": [],
        "padding": "x" * 4096,
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 413
    assert response.get_json() == {"error": "Request too large: the limit is 2 KiB"}


def _post_callback(client, app, output: str, values: dict[str, object]):
    """POST the callback whose outputs start with ``output``, its inputs and states taken from ``values``."""
    key, spec = next((key, spec) for key, spec in app.callback_map.items() if key.lstrip(".").startswith(output))
    declared = spec["output"] if isinstance(spec["output"], list) else [spec["output"]]
    outputs = [{"id": o.component_id, "property": o.component_property} for o in declared]

    def given(items):
        return [{**item, "value": values.get(f"{item['id']}.{item['property']}")} for item in items]

    body = {
        "output": key,
        "outputs": outputs if key.startswith("..") else outputs[0],
        "inputs": given(spec["inputs"]),
        "state": given(spec["state"]),
        "changedPropIds": [f"{item['id']}.{item['property']}" for item in spec["inputs"]],
    }
    return client.post("/_dash-update-component", json=body)


def test_no_response_names_a_server_path(tiny_cache, tiny_model, tmp_path, tmp_path_factory):
    """The rebuild command, the manifest (Debug), a missing artefact, a damaged file, a model that does not
    load and a broken manifest all reach the page and /readyz, with the model, dataset and cache named but
    no directory of this machine in any response body."""
    from helpers import set_manifest_field

    from explainer.app.sections import load_sections
    from explainer.cache import schema

    root = tmp_path / "caches"
    for name in ("good", "damaged", "broken"):
        shutil.copytree(tiny_cache, root / name)
    (root / "damaged" / "metrics.json").write_text("{", encoding="utf-8")
    (root / "damaged" / schema.DATA_CHECKS).unlink()
    set_manifest_field(root / "damaged", "model", {"id": f"{tiny_model}-moved", "revision": None})
    set_manifest_field(root / "broken", "labels", "oops")
    app = create_app(Settings(cache=root))
    client = app.server.test_client()
    bodies = {"readyz": client.get("/readyz").get_data(as_text=True), "index": client.get("/").get_data(as_text=True)}
    for cache in ("good", "damaged", "broken"):
        search = f"?cache={cache}"
        bodies[f"route {cache}"] = _post_callback(client, app, "route.data", {"url.search": search}).get_data(
            as_text=True
        )
        for section in load_sections():
            values = {"route.data": {"cache": cache, "tab": section.key}, "url.search": f"{search}&tab={section.key}"}
            response = _post_callback(client, app, "tab-content.children", values)
            bodies[f"{section.key} {cache}"] = response.get_data(as_text=True)
    bodies = {name: body.replace("\\u002f", "/") for name, body in bodies.items()}  # Dash's JSON escapes slashes
    probe = {
        "probing-run.n_clicks": 1,
        "probing-text.value": "John lives in Paris",
        "probing-threshold.value": 0.5,
        "url.search": "?cache=damaged&tab=probing",
    }
    bodies["probe damaged"] = _post_callback(client, app, "probing-results.children", probe).get_data(as_text=True)

    here = str(tmp_path_factory.getbasetemp())  # every file of this test lies under it
    assert tiny_model.name in bodies["debug good"] and "tiny.conll" in bodies["debug good"]
    assert "rebuild the cache with: explainer build --model" in bodies["readyz"]
    assert "damaged/metrics.json" in bodies["metrics damaged"]
    assert f"{tiny_model.name}-moved" in bodies["probe damaged"]
    leaks = {name: body[body.index(here) - 80 : body.index(here) + 80] for name, body in bodies.items() if here in body}
    assert leaks == {}


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("cannot load model /srv/models/bert-ner: no config.json", "cannot load model bert-ner: no config.json"),
        ("read /data/conll/test.txt (line 3)", "read test.txt (line 3)"),
        ("see https://example.org/a/b and and/or, 3/4", "see https://example.org/a/b and and/or, 3/4"),
        ("--out /caches/val --model '/m/x/'", "--out $EXPLAINER_CACHE/val --model 'x'"),
    ],
)
def test_user_messages_keep_names_and_drop_directories(message, shown):
    from explainer.app.server import user_message

    assert user_message(ExplainerError(message), cache_root="/caches") == shown


def test_the_path_hider_leaves_dataset_text_that_looks_like_a_path(tiny_cache, tmp_path):
    from explainer.app.server import PathHider

    root = tmp_path / "caches"
    shutil.copytree(tiny_cache, root / "one")
    hider = PathHider(root)
    model = json.loads((root / "one" / "manifest.json").read_text(encoding="utf-8"))["model"]["id"]
    text = f"/r/worldnews says {model}/config.json and {root}/one"
    assert hider.hide(text) == f"/r/worldnews says {Path(model).name}/config.json and $EXPLAINER_CACHE/one"
