"""The quickstart notebook runs clean from top to bottom, so it never rots."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.ray, pytest.mark.slow]

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


def test_quickstart_notebook_executes_without_errors(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # The kernel starts its own embedded Ray and writes only under its temp storage.
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(
        str(o.get("data", {}).get("text/plain", "")) + o.get("text", "") for o in outputs
    )
    assert "metric_best" in text and "model_file" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)
