"""Deployment: gunicorn behind a real nginx under /tools/ner/, in both proxy modes, driven by
headless Chromium and by 20 simulated users; embedding from a second origin; the Docker image's
instructions checked statically (Docker does not run here)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml
from helpers import REPO_ROOT

REPO = REPO_ROOT
sys.path.insert(0, str(REPO / "bench"))
# bench/ is not a package: these imports need the path entry above (hence E402).
import stack  # noqa: E402
from load import DashClient, run_load  # noqa: E402

PREFIX = stack.PREFIX


# ------------------------------------------------------------------------------- static checks


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def test_dockerfile_builds_a_slim_non_root_cpu_image_with_a_healthcheck():
    steps = dockerfile_instructions()
    by_kind = {}
    for kind, arguments in steps:
        by_kind.setdefault(kind, []).append(arguments)
    assert len(by_kind["FROM"]) == 1 and re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", by_kind["FROM"][0])
    runs = " ".join(by_kind["RUN"])
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in runs
    # Every pip install after the CPU torch pins torch, so nothing can swap in a CUDA build.
    later = runs.split("whl/cpu", 1)[1]
    assert all("torch==2.13.0" in part or "--no-deps" in part for part in later.split("pip install")[1:])
    # The app runs as a non-root user created in the image, and that is the last USER.
    assert by_kind["USER"][-1] == "explainer" and "useradd" in runs
    copied = [args.split()[:-1] for args in by_kind["COPY"]]
    for source in [item for sources in copied for item in sources]:
        assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
    assert ["assets"] in copied and any("gunicorn.conf.py" in sources for sources in copied)
    env = " ".join(by_kind["ENV"])
    assert "EXPLAINER_CACHE=/caches" in env and json.loads(by_kind["VOLUME"][0]) == ["/caches"]
    # gunicorn listens on the container's own interfaces but publishes nothing (no EXPOSE for `docker run -P`):
    # deploy/compose.yaml puts nginx in front of it.
    assert "EXPLAINER_BIND=0.0.0.0:8000" in env and "EXPOSE" not in by_kind
    assert "chown explainer /caches /corrections" in runs  # the compose project's corrections volume is writable
    assert "explainer.app.server" in by_kind["HEALTHCHECK"][0] and "healthcheck" in by_kind["HEALTHCHECK"][0]
    assert json.loads(by_kind["CMD"][0]) == ["gunicorn", "--config", "gunicorn.conf.py", "app:server"]
    assert [kind for kind, _ in steps][-1] == "CMD"


def test_dockerignore_keeps_the_context_small_and_secret_free():
    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "caches", "tests"} <= ignored
    copied = {args.split()[0] for kind, args in dockerfile_instructions() if kind == "COPY"}
    assert not copied & ignored


def test_compose_publishes_nginx_and_keeps_gunicorn_on_an_internal_network():
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    app, proxy = compose["services"]["app"], compose["services"]["proxy"]
    networks = compose["networks"]
    # The app: no published port, only on internal networks; the image built from this repository.
    assert "ports" not in app and "expose" not in app and "network_mode" not in app
    assert app["networks"] and all(networks[name].get("internal") is True for name in app["networks"])
    assert (REPO / "deploy" / app["build"]["context"] / app["build"]["dockerfile"]).resolve() == REPO / "Dockerfile"
    # nginx: the one published port, on the app's network too, serving a shipped site file.
    assert [port.rsplit(":", 1)[1] for port in proxy["ports"]] == ["80"]
    assert set(app["networks"]) <= set(proxy["networks"])
    assert any(not networks[name].get("internal") for name in proxy["networks"])
    [site_mount] = proxy["volumes"]
    source, target, mode = site_mount.split(":")
    assert mode == "ro" and (REPO / "deploy" / source).resolve() == stack.SITE_FILES[False]
    # The app is configured for that site: prefix passed through, corrections on their own volume.
    env = app["environment"]
    assert env["EXPLAINER_URL_PREFIX"] == PREFIX and env["EXPLAINER_PROXY_STRIPS_PREFIX"] == "0"
    assert f"corrections:{env['EXPLAINER_CORRECTIONS_DIR']}" in app["volumes"]
    assert any(volume.endswith(":/caches:ro") for volume in app["volumes"])
    # The proxy's command rewrites only the site's upstream line, to the app service: run its sed here.
    script = proxy["command"][-1]
    assert target in script and "exec nginx -g 'daemon off;'" in script
    expression = re.search(r"sed '([^']+)'", script).group(1)
    rewritten = subprocess.run(
        ["sed", expression, str(stack.SITE_FILES[False])], capture_output=True, text=True, check=True
    ).stdout
    changed = set(rewritten.splitlines()) ^ set(stack.SITE_FILES[False].read_text().splitlines())
    assert len(changed) == 2 and any(line.strip().startswith("server app:8000;") for line in changed), changed


def test_the_healthcheck_url_follows_bind_and_prefix():
    from explainer.app.server import healthcheck_url

    assert healthcheck_url({"EXPLAINER_BIND": "0.0.0.0:8000"}) == "http://127.0.0.1:8000/healthz"
    assert (
        healthcheck_url({"EXPLAINER_BIND": "0.0.0.0:9000", "EXPLAINER_URL_PREFIX": "/tools/ner/"})
        == "http://127.0.0.1:9000/tools/ner/healthz"
    )
    assert (
        healthcheck_url({"PORT": "7000", "EXPLAINER_URL_PREFIX": "/tools/ner/", "EXPLAINER_PROXY_STRIPS_PREFIX": "1"})
        == "http://127.0.0.1:7000/healthz"
    )


def gunicorn_settings(**env) -> dict:
    """gunicorn.conf.py evaluated in a clean process with ``env``."""
    code = (
        "import json, os, runpy; ns = runpy.run_path('gunicorn.conf.py'); "
        "print(json.dumps({k: ns[k] for k in ('bind', 'workers', 'threads', 'timeout', 'preload_app', "
        "'worker_class', 'TORCH_THREADS', 'CORES', 'limit_request_line', 'limit_request_fields', "
        "'limit_request_field_size')} | {'omp': os.environ['OMP_NUM_THREADS'], "
        "'flask_debug': os.environ.get('FLASK_DEBUG')}))"
    )
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EXPLAINER_", "OMP_", "MKL_", "OPENBLAS_")) and key != "PORT"
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_gunicorn_settings_come_from_the_environment():
    settings = gunicorn_settings(
        EXPLAINER_BIND="127.0.0.1:9001",
        EXPLAINER_WORKERS="3",
        EXPLAINER_THREADS="8",
        EXPLAINER_TIMEOUT="90",
        FLASK_DEBUG="1",
    )
    assert settings["bind"] == ["127.0.0.1:9001"]
    assert (settings["workers"], settings["threads"], settings["timeout"]) == (3, 8, 90)
    assert settings["preload_app"] is False and settings["worker_class"] == "gthread"
    assert settings["flask_debug"] is None
    defaults = gunicorn_settings(PORT="7000")
    assert defaults["bind"] == ["0.0.0.0:7000"] and defaults["workers"] == min(defaults["CORES"], 4)
    assert gunicorn_settings()["bind"] == ["127.0.0.1:8000"]  # by default only a proxy on this host reaches it
    # Request line and headers bounded (slow clients are nginx's: see test_proxy.py).
    assert (defaults["limit_request_line"], defaults["limit_request_fields"]) == (8190, 100)
    assert defaults["limit_request_field_size"] == 8190
    # workers x torch threads fit the cores, and OpenMP (hence torch) inherits the bound.
    assert defaults["workers"] * defaults["TORCH_THREADS"] <= max(defaults["CORES"], defaults["workers"])
    assert defaults["omp"] == str(defaults["TORCH_THREADS"])
    assert gunicorn_settings(EXPLAINER_TORCH_THREADS="2")["omp"] == "2"
    bad = subprocess.run(
        [sys.executable, "-c", "import runpy; runpy.run_path('gunicorn.conf.py')"],
        cwd=REPO,
        env={**os.environ, "EXPLAINER_WORKERS": "many"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "EXPLAINER_WORKERS='many' is not a whole number" in bad.stderr


@pytest.mark.parametrize("strips", [False, True], ids=["passthrough", "stripped"])
def test_shipped_nginx_sites_are_valid(strips, tmp_path):
    binary = stack.nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (make test installs it: apt-get install nginx)")
    site = stack.site_config(strips_prefix=strips, listen_port=stack.free_port(), upstream_port=8000)
    assert f"location {PREFIX} " in site and ("proxy_pass http://explainer_stripped/;" in site) == strips
    config = tmp_path / "nginx.conf"
    config.write_text(f"pid {tmp_path}/nginx.pid; events {{}} http {{ {site} }}")
    result = subprocess.run(
        [binary, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(config)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------------------ the live stack


def _needs(*programs):
    if stack.nginx_binary() is None:
        pytest.skip("nginx is not installed (make test installs it: apt-get install nginx)")
    for program in programs:
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed (make test installs chromium and chromium-driver)")


@pytest.fixture(scope="module")
def portal_ports():
    return {"allowed": stack.free_port(), "other": stack.free_port()}


@pytest.fixture(scope="module")
def passthrough(tiny_cache, portal_ports):
    """nginx passing /tools/ner/ through to gunicorn (2 workers); portal pages on two more origins."""
    _needs()
    allowed = f"'self' http://127.0.0.1:{portal_ports['allowed']}"
    with (
        stack.Gunicorn(cache=tiny_cache.parent, workers=2, env={"EXPLAINER_FRAME_ANCESTORS": allowed}) as app,
        stack.Nginx(upstream_port=app.port, portal_ports=portal_ports.values()) as proxy,
    ):
        yield app, proxy


@pytest.fixture(scope="module")
def stripped(tiny_cache):
    """nginx stripping /tools/ner/ before gunicorn (2 workers)."""
    _needs()
    with (
        stack.Gunicorn(cache=tiny_cache.parent, workers=2, strips_prefix=True) as app,
        stack.Nginx(upstream_port=app.port, strips_prefix=True) as proxy,
    ):
        yield app, proxy


@pytest.fixture(scope="module")
def browser():
    _needs("chromium", "chromedriver")
    from conftest import pytest_setup_options
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = pytest_setup_options()
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def wait_for(driver, css: str, *, text: str | None = None, timeout: float = 20):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout)
    if text is not None:
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    return wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def page_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


@pytest.mark.deploy
@pytest.mark.parametrize("mode", ["passthrough", "stripped"])
def test_every_url_of_the_page_honours_the_prefix(mode, request):
    app, proxy = request.getfixturevalue(mode)
    page = requests.get(proxy.url, timeout=30)
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    urls = page_urls(page.text)
    assert len(urls) >= 8 and all(url.startswith(PREFIX) for url in urls), urls
    config = json.loads(
        re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', page.text, re.S).group(1)
    )
    assert config["requests_pathname_prefix"] == PREFIX
    origin = proxy.url[: -len(PREFIX)]
    for url in urls:
        assert requests.get(origin + url, timeout=30).status_code == 200, url
    for path in ("healthz", "readyz", "_dash-layout", "_dash-dependencies"):
        assert requests.get(proxy.url + path, timeout=30).status_code == 200, path
    assert requests.get(proxy.url + "readyz", timeout=30).json() == {
        "status": "ready",
        "caches": 1,
        "states": {"tiny": {"state": "ok"}},
    }
    no_slash = requests.get(proxy.url.rstrip("/"), allow_redirects=False, timeout=30)
    assert no_slash.status_code == 301 and no_slash.headers["Location"] == PREFIX
    # A callback through the proxy: the route of a shared link.
    client = DashClient(proxy.url)
    client.load_dependencies()
    route = client.route("?cache=tiny&tab=inspect&sample=4").json()["response"]["route"]["data"]
    assert route == {"cache": "tiny", "tab": "inspect"}
    # The app answers under the prefix only, as the proxy mode says.
    direct = f"http://127.0.0.1:{app.port}"
    assert requests.get(direct + ("/healthz" if mode == "stripped" else PREFIX + "healthz"), timeout=30).ok


@pytest.mark.deploy
def test_the_master_process_never_loads_torch(passthrough):
    app, _ = passthrough
    maps = Path(f"/proc/{app.pid}/maps").read_text()
    assert "libtorch" not in maps and "libgomp" not in maps
    assert len(app.worker_pids()) == 2


@pytest.mark.deploy
@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["passthrough", "stripped"])
def test_browser_through_nginx_clicks_every_tab_and_a_grid_row(mode, request, browser):
    from selenium.webdriver.common.by import By

    _, proxy = request.getfixturevalue(mode)
    browser.get(proxy.url)
    wait_for(browser, "#tab-content > *")
    labels = [link.text for link in browser.find_elements(By.CSS_SELECTOR, "#nav .nav-link")]
    assert "Inspect" in labels and "Metrics" in labels
    # Every tab once under one proxy mode (its links and callbacks must honour the prefix); the
    # other mode serves the same pages, so it only checks the way to the inspector.
    for label in labels if mode == "passthrough" else ["Inspect"]:
        browser.find_element(By.XPATH, f"//*[@id='nav']//a[normalize-space()='{label}']").click()
        wait_for(browser, "#nav .nav-link.active", text=label, timeout=60)
        wait_for(browser, "#tab-content > *", timeout=60)  # heavy tabs take a while in headless Chromium
    assert "tab=" in browser.current_url and browser.current_url.startswith(proxy.url)
    # Click through to the inspector from a row of the Inspect grid.
    browser.find_element(By.XPATH, "//*[@id='nav']//a[normalize-space()='Inspect']").click()
    cell = wait_for(browser, ".ag-center-cols-container .ag-row[row-index='2'] .ag-cell[col-id='example_id']")
    example = cell.text
    cell.click()
    wait_for(browser, "#inspector-title", text=f"Example {example}")
    assert f"sample={example}" in browser.current_url
    # A shared link opens the inspector directly, under the prefix.
    browser.get(proxy.url + "?tab=inspect&sample=0")
    wait_for(browser, "#inspector-title", text="Example 0")
    assert wait_for(browser, ".inspector-words").text
    assert console_errors(browser) == []


@pytest.mark.deploy
@pytest.mark.browser
def test_script_in_url_parameters_is_shown_as_text(passthrough, browser):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    _, proxy = passthrough
    payload = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    browser.get(
        proxy.url
        + "?tab=inspect&ins_text="
        + requests.utils.quote(payload)
        + "&sample="
        + requests.utils.quote("<script>alert(3)</script>")
    )
    wait_for(browser, "#tab-content code", text=payload)
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # accessing it is the check (B018 is off for tests)
    assert not browser.find_elements(By.CSS_SELECTOR, "#tab-content script, #tab-content img[src=x]")
    assert [message for message in console_errors(browser) if "alert" in message] == []


@pytest.mark.deploy
@pytest.mark.browser
def test_only_the_configured_portal_may_frame_the_app(passthrough, portal_ports, browser):
    from selenium.webdriver.common.by import By

    _, proxy = passthrough
    browser.get(proxy.portal_url(portal_ports["allowed"]))
    browser.switch_to.frame(wait_for(browser, "iframe#app"))
    try:
        wait_for(browser, "#nav .nav-link.active", text="Metrics")
    finally:
        browser.switch_to.default_content()
    assert console_errors(browser) == []

    browser.get(proxy.portal_url(portal_ports["other"]))
    browser.switch_to.frame(wait_for(browser, "iframe#app"))
    try:
        assert browser.find_elements(By.CSS_SELECTOR, "#react-entry-point, #nav") == []
    finally:
        browser.switch_to.default_content()
    refused = [message for message in console_errors(browser) if "frame-ancestors" in message]
    assert refused, "Chromium did not report the refused frame"


@pytest.mark.deploy
@pytest.mark.slow
def test_twenty_users_through_nginx_and_two_workers(passthrough, capsys):
    _, proxy = passthrough
    report = run_load(proxy.url, users=20, duration=15, think=0.05)
    with capsys.disabled():
        print("\n" + report.table())
    assert len(report.outcomes) >= 100
    assert report.server_errors == [] and report.client_errors == []
    assert report.mixups == []
    assert {outcome.action for outcome in report.outcomes} >= {"tab", "filter", "inspect"}
