"""The wheel's copy of assets/ (the app's CSS and scripts, the vendored plotly bundle) as ``explainer/assets``, and of
gunicorn.conf.py (``explainer serve``'s settings) as ``explainer/gunicorn.conf.py``.

Everything else about the package is in pyproject.toml. In the repository (and an editable install) the app
reads assets/ at the root; an installed wheel has no repository, so its build puts a copy inside the package.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ASSETS = Path(__file__).resolve().parent / "assets"
GUNICORN_CONF = Path(__file__).resolve().parent / "gunicorn.conf.py"


class BuildWithAssets(build_py):
    def run(self):
        super().run()
        if not self.editable_mode:
            shutil.copytree(ASSETS, Path(self.build_lib) / "explainer" / "assets", dirs_exist_ok=True)
            shutil.copy2(GUNICORN_CONF, Path(self.build_lib) / "explainer" / "gunicorn.conf.py")


setup(cmdclass={"build_py": BuildWithAssets})
