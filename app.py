"""Entry point for ``gunicorn app:server`` and for development (``python app.py``).

Settings come from the environment (``EXPLAINER_CACHE``: one cache or a root of caches).
"""

from explainer.app.factory import create_app
from explainer.app.settings import Settings

app = create_app(Settings.from_env())
server = app.server

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8050, debug=False)
