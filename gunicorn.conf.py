"""Gunicorn settings for ``gunicorn app:server``, read from the environment.

=======================  ====================================================================
``EXPLAINER_BIND``       address(es) to listen on, comma-separated (default 127.0.0.1:8000,
                         or 0.0.0.0:$PORT when PORT is set)
``EXPLAINER_WORKERS``    worker processes (default: the cores, at most 4)
``EXPLAINER_THREADS``    threads per worker (default 4); callbacks mostly wait on I/O and pandas
``EXPLAINER_TIMEOUT``    seconds before a silent worker is killed and replaced (default 60)
``EXPLAINER_TORCH_THREADS``  torch/OpenMP threads per worker (default: cores // workers, at least 1)
``EXPLAINER_FORWARDED_ALLOW_IPS``  proxies trusted for X-Forwarded-* (default 127.0.0.1)
``EXPLAINER_CONTROL_SOCKET``  path of gunicorn's control socket (default: none)
``EXPLAINER_WARM``       1 (default): each worker renders every tab of the default cache once at start,
                         in a background thread, so the first visit to a tab is not a cold read; 0: off
=======================  ====================================================================

The app is imported in each worker, never in the master (``preload_app = False``): torch and the
caches' memory maps are not shared across ``fork``, and a master without torch stays small.
"""

import os
import sys


def _int_env(name: str, default: int, *, minimum: int = 1) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < minimum:
        raise SystemExit(f"error: {name}={value!r} is not a whole number >= {minimum}")
    return int(value)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this container may use, not the host's
    except AttributeError:
        return os.cpu_count() or 1


CORES = _cores()

if os.environ.get("EXPLAINER_BIND"):
    bind = [address.strip() for address in os.environ["EXPLAINER_BIND"].split(",") if address.strip()]
elif os.environ.get("PORT"):
    bind = [f"0.0.0.0:{os.environ['PORT']}"]
else:
    bind = ["127.0.0.1:8000"]

workers = _int_env("EXPLAINER_WORKERS", min(CORES, 4))
threads = _int_env("EXPLAINER_THREADS", 4)
worker_class = "gthread"
timeout = _int_env("EXPLAINER_TIMEOUT", 60)
graceful_timeout = 30
keepalive = 5
preload_app = False
forwarded_allow_ips = os.environ.get("EXPLAINER_FORWARDED_ALLOW_IPS", "127.0.0.1")
# From those proxies, only the scheme header the shipped nginx sites set (gunicorn's default also trusts
# X-Forwarded-Ssl and X-Forwarded-Protocol, which a proxy that passes a client's copy lets it spoof), and
# no SCRIPT_NAME/PATH_INFO header: the prefix is EXPLAINER_URL_PREFIX's, not a request's.
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
forwarder_headers = ""
# The heartbeat file on a RAM disk where there is one: a slow overlay disk can make workers look dead.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
# gunicorn >= 27 opens a control socket in $HOME by default: off unless asked for (the image's user has
# no writable home, and two instances on one machine would share the socket).
if os.environ.get("EXPLAINER_CONTROL_SOCKET"):
    control_socket = os.environ["EXPLAINER_CONTROL_SOCKET"]
else:
    control_socket_disable = True
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'  # with the time each request took
errorlog = "-"
loglevel = os.environ.get("EXPLAINER_LOG_LEVEL", "info")
# Bound the request line and headers (the app's state lives in the query string, well under this).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# Slow clients are the proxy's job. A gthread worker reads a request's headers in one of its threads, with
# blocking reads once the first byte is in, so as many connections trickling headers as there are threads
# (workers x threads: 8 on 2 cores) stall every request, health probes included; more threads only raise
# that number, and no worker class here reads headers without a thread. nginx (deploy/) reads whole
# requests first and cuts tricklers off (client_header_timeout), so gunicorn listens only where nginx
# alone reaches it: 127.0.0.1 by default, the internal network of deploy/compose.yaml in Docker.
# Measured straight to gunicorn, 2 workers, 10 probes (5 s timeout): 4 threads with 6 / 12 tricklers,
# 9 / 8 answered; 16 threads with 12 / 40, 10 / 9. gunicorn 27 has no setting bounding the header read.

# Workers × torch threads must fit the cores, or live probing thrashes. The variables are set here,
# in the master, so every worker inherits them before anything imports torch.
TORCH_THREADS = _int_env("EXPLAINER_TORCH_THREADS", max(1, CORES // workers))
for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(variable, str(TORCH_THREADS))
os.environ["EXPLAINER_TORCH_THREADS"] = str(TORCH_THREADS)
os.environ.pop("FLASK_DEBUG", None)  # the debugger is never on under gunicorn
# pyarrow's default pool (mimalloc) keeps what Parquet decoding freed; the system allocator gives it
# back, which keeps a worker's heap near what its pages hold (measured: -40 MB per worker at 1M subwords).
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


def post_fork(server, worker):
    """Bound torch's thread pools in each worker (a no-op unless something imported torch); give freed
    memory back to the system."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(TORCH_THREADS)
    _return_freed_memory()


def _return_freed_memory():
    """glibc: 2 malloc arenas rather than one per thread, so memory freed by one request thread is
    reused by the others instead of piling up (a worker on a 1M-subword cache grew by ~300 MB over a
    few hundred requests without it). A fixed 1 MB mmap threshold saved another ~70 MB but cost
    30-50% more CPU per request (page faults on every large temporary), so it is not set."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        pass


def post_worker_init(worker):
    """Render every tab once in a background thread, so no visitor waits for a cold read (EXPLAINER_WARM=0: off);
    give what requests free back to the system in another (explainer.app.warm.HeapTrimmer)."""
    from explainer.app.warm import HeapTrimmer, warm_in_background

    warm_in_background(worker.wsgi, log_to=worker.log)
    HeapTrimmer().start()


def when_ready(server):
    server.log.info(
        "explainer: %d workers x %d threads, %d torch threads each, on %s",
        server.cfg.workers,  # the settings in force: `explainer serve --port` or gunicorn's flags override this file
        server.cfg.threads,
        TORCH_THREADS,
        ", ".join(server.cfg.bind),
    )
