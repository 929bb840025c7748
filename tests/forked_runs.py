"""Run one notebook many times with one cell changed each time, sharing the cells before it.

A planted slip changes one graded cell; every cell before it runs exactly as in the
solution. So the notebook runs once in an IPython shell (what a Jupyter kernel runs, without
the kernel), and just before a changed cell the shell forks: the child runs the changed cell
and the rest of the notebook, writes the cells' outputs as a notebook, and exits; the parent
goes on with the solution's cell. Each variant costs its own cells only, not a kernel start,
the imports and the cells before it again.

Outputs are recorded the way ipykernel records them: stdout and stderr streams, and errors
with ``ename``, ``evalue`` and the shell's traceback lines (``Cell In[n], line m`` frames), each
cell numbered as Jupyter numbers it. Figures use matplotlib's Agg backend and are closed after
every cell, as the inline backend does.

    python tests/forked_runs.py SPEC.json

SPEC: {"notebook": path of the notebook to run, "folder": its working folder, "variants":
[{"key", "cell", "source", "folder", "out"}]}: before cell index ``cell`` a child switches to
its own ``folder`` (a copy of what the run wrote so far is put there first), replaces the
cell's source and writes the executed notebook to ``out``. A variant's child that does not
finish in ``timeout`` seconds (default 180) is killed and its notebook says so.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path


def _shell():
    os.environ["MPLBACKEND"] = "Agg"
    from IPython.core.interactiveshell import InteractiveShell

    class RecordingShell(InteractiveShell):
        """An IPython shell that keeps each cell's error as ipykernel does (ename, evalue, traceback lines)."""

        errors: list = []

        def _showtraceback(self, etype, evalue, stb):
            self.errors.append({"output_type": "error", "ename": getattr(etype, "__name__", str(etype)), "evalue": str(evalue), "traceback": list(stb)})

    shell = RecordingShell.instance(colors="nocolor")
    shell.display_pub.publish = lambda data, metadata=None, **kwargs: None  # rich displays (widgets, HTML): nothing the checks read
    return shell


def run_cell(shell, cell) -> None:
    """Run one code cell; put its outputs (streams, error) and execution count on it."""
    import matplotlib.pyplot as plt

    out, err = io.StringIO(), io.StringIO()
    shell.errors.clear()
    with redirect_stdout(out), redirect_stderr(err):
        shell.run_cell(cell["source"], store_history=True)
        plt.close("all")
    cell["execution_count"] = shell.execution_count - 1
    cell["outputs"] = [{"output_type": "stream", "name": name, "text": text} for name, text in (("stdout", out.getvalue()), ("stderr", err.getvalue())) if text]
    cell["outputs"] += list(shell.errors)


def _run_rest(shell, nb: dict, start: int, out: Path) -> None:
    for cell in nb["cells"][start:]:
        if cell["cell_type"] == "code":
            run_cell(shell, cell)
    out.write_text(json.dumps(nb))


def _copy_into(source: Path, target: Path) -> None:
    """What the run has written so far (notebooks staged by the caller stay as they are in ``target``)."""
    for path in source.iterdir():
        if not (target / path.name).exists() and path.is_file():
            shutil.copy2(path, target / path.name)


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    nb = json.loads(Path(spec["notebook"]).read_text())
    for cell in nb["cells"]:
        cell["source"] = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    folder = Path(spec["folder"])
    os.chdir(folder)
    sys.path.insert(0, str(folder))
    shell = _shell()
    timeout = float(spec.get("timeout", 180))
    by_cell: dict[int, list[dict]] = {}
    for variant in spec["variants"]:
        by_cell.setdefault(int(variant["cell"]), []).append(variant)
    for index, cell in enumerate(nb["cells"]):
        for variant in by_cell.get(index, []):
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    target = Path(variant["folder"])
                    _copy_into(folder, target)
                    os.chdir(target)
                    sys.path[0] = str(target)
                    nb["cells"][index]["source"] = variant["source"]
                    _run_rest(shell, nb, index, Path(variant["out"]))
                    code = 0
                finally:
                    os._exit(code)
            deadline = time.monotonic() + timeout
            while True:
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    Path(variant["out"]).write_text(json.dumps({"timed_out": timeout}))
                    break
                time.sleep(0.02)
        if cell["cell_type"] == "code" and index < max(by_cell, default=-1):
            run_cell(shell, cell)  # the solution's cell: the next variants start after it
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
