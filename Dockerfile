# The explainer app: gunicorn serving app:server, caches mounted read-only at /caches. gunicorn does not
# face clients itself: nginx reads slow clients' requests for it and says who the reviewer is. Run both with
#
#   docker compose -f deploy/compose.yaml up --build        # then http://localhost:8080/tools/ner/
#
# The image publishes no port (no EXPOSE); in that project only nginx reaches gunicorn's port 8000.
# Caches are built outside the image (`explainer build ... --out caches/NAME`) and mounted.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# CPU-only torch first and pinned: a plain `torch` requirement pulls several GB of CUDA packages.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

WORKDIR /app

# The dependencies alone, so code changes do not reinstall them (tomllib reads pyproject.toml).
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt "torch==2.13.0" \
    && rm /tmp/requirements.txt

# The app, its assets (the Bootstrap CSS: nothing comes from a CDN) and the gunicorn settings.
COPY explainer ./explainer
COPY assets ./assets
COPY app.py gunicorn.conf.py ./
# Editable, so explainer/ stays beside assets/ (the app finds its assets relative to its source).
RUN pip install --no-deps -e . \
    && useradd --system --uid 10001 --no-create-home --home-dir /app --shell /usr/sbin/nologin explainer \
    && mkdir -p /caches /corrections && chown explainer /caches /corrections

ENV EXPLAINER_CACHE=/caches \
    EXPLAINER_BIND=0.0.0.0:8000 \
    EXPLAINER_URL_PREFIX=/ \
    EXPLAINER_PROXY_STRIPS_PREFIX=0 \
    EXPLAINER_FRAME_ANCESTORS="'self'" \
    EXPLAINER_MAX_CONTENT_LENGTH=1M \
    HF_HUB_OFFLINE=1

VOLUME ["/caches"]
USER explainer

# Liveness: healthz under the configured prefix (readyz, for an orchestrator, also needs a cache).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "explainer.app.server", "healthcheck"]

CMD ["gunicorn", "--config", "gunicorn.conf.py", "app:server"]
