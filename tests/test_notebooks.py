"""The tutorial notebooks: they match their sources and run end to end at a tiny size.

Each notebook's source is a jupytext percent-format script, ``notebooks/NN_name.py`` (linted and
formatted by ruff like the rest of the code); ``make notebooks`` writes ``notebooks/NN_name.ipynb``
from it. The first test checks that every committed ``.ipynb`` has exactly its source's cells and
no outputs.

Each notebook is executed by ``nbclient`` in a child process (this file run as a script), which
starts an IPython kernel from this test's own interpreter (``sys.executable -m
ipykernel_launcher``, through a kernel spec written to a temporary folder, so no installed or
user kernel spec is involved). The child and its kernel get ``EPROP_JAX_NOTEBOOK_SMOKE=1`` (tiny
sizes, a few iterations) and ``src/`` in front of ``PYTHONPATH``, so the checkout's package is
tested whether or not it is pip-installed; the working directory is a temporary folder.

The child process keeps jupyter_client's and zmq's shutdown noise (unclosed-socket
``ResourceWarning`` at garbage collection) out of pytest, where ``filterwarnings = error`` would
turn it into errors long after the test that caused it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
KERNEL_NAME = "eprop-jax-test"
CELL_TIMEOUT_S = 120


NAMES = [
    "01_evidence_accumulation.ipynb",
    "02_sine_waves.ipynb",
    "03_infinite_loop.ipynb",
    "04_handwriting.ipynb",
    "05_writing_a_rule.ipynb",
]


def test_the_notebooks_and_their_sources_exist():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == NAMES
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.py")) == [
        name.replace(".ipynb", ".py") for name in NAMES
    ]


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_matches_its_source(name):
    """Read the .py source with jupytext and compare cell by cell, so the two cannot drift."""
    source = jupytext.read(NOTEBOOK_DIR / name.replace(".ipynb", ".py"), fmt="py:percent")
    committed = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    hint = f"notebooks/{name} is out of date with its .py source; run `make notebooks`"
    assert [c.cell_type for c in committed.cells] == [c.cell_type for c in source.cells], hint
    for i, (old, new) in enumerate(zip(committed.cells, source.cells, strict=True)):
        assert old.source == new.source, f"{hint} (cell {i} differs)"
    for i, cell in enumerate(committed.cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"cell {i} has outputs"
    nbformat.validate(committed)


def _smoke_environment(tmp: Path) -> dict[str, str]:
    python_path = [str(ROOT / "src")]
    if os.environ.get("PYTHONPATH"):
        python_path.append(os.environ["PYTHONPATH"])
    return {
        **os.environ,
        "EPROP_JAX_NOTEBOOK_SMOKE": "1",
        "PYTHONPATH": os.pathsep.join(python_path),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # quiets the kernel's debugger on some setups
        "TMPDIR": str(tmp),  # the notebooks' smoke-mode output folders land in pytest's tmp_path
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, tmp_path):
    executed = tmp_path / name
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "tmp").mkdir()
    command = [sys.executable, __file__, str(NOTEBOOK_DIR / name), str(executed), str(tmp_path)]
    proc = subprocess.run(
        command,
        cwd=work,
        env=_smoke_environment(tmp_path / "tmp"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"

    nb = nbformat.read(executed, as_version=4)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert all(cell.execution_count for cell in nb.cells if cell.cell_type == "code")
    assert not [out for out in outputs if out.output_type == "error"]
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    text = "".join(out.get("text", "") for out in outputs)
    if name == "05_writing_a_rule.ipynb":
        # the alignment bars and the learning curves; the float64 check printed its errors
        assert len(images) >= 2, f"only {len(images)} figures were displayed"
        assert "w_rec: max relative difference" in text
        return
    # one trial of the task, the gradient check before and after training, the learning curve,
    # the trial before and after training (snapshot or readout) and the weights
    assert len(images) >= 7, f"only {len(images)} figures were displayed"
    assert "smoke mode: True" in text


def _execute(source: Path, target: Path, scratch: Path) -> None:
    """Child process: execute ``source`` with nbclient in a fresh kernel, write it to ``target``.

    The kernel is ``sys.executable -m ipykernel_launcher`` (a kernel spec in ``scratch``) and
    inherits this process's environment and working directory.
    """
    import nbclient
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    kernel_dir = scratch / "kernels" / KERNEL_NAME
    kernel_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "eprop-jax test kernel",
        "language": "python",
    }
    (kernel_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(scratch / "kernels")])
    km = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
    nb = nbformat.read(source, as_version=4)
    client = nbclient.NotebookClient(
        nb, km=km, timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": os.getcwd()}}
    )
    try:
        client.execute()  # raises CellExecutionError at the first failing cell
    finally:
        nbformat.write(nb, target)


if __name__ == "__main__":
    _execute(*map(Path, sys.argv[1:4]))
