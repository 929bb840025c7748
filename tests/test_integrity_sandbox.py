"""Grading integrity inside the sandbox: what a student's process can read, say and leave behind.

The principle: whatever runs in the student's process can be forged, so forging may earn
exactly what returning those values from the student's own functions would. Each test
grades attacking notebooks together with honest students, on the same worker (jobs=1,
so they run one after another in one worker), and checks three things: the attack earns
nothing it should not, the batch completes, and the honest students keep full marks.
"""

from __future__ import annotations

import json
import shutil
import textwrap

import nbformat
import pytest

from autograder.course import RELEASE, ROOT, SOLUTIONS, available
from autograder.grading.launch import bwrap_path
from autograder.grading.probes import probe_source
from autograder.grading.registry import load_registry, suite_files
from tests.conftest import grade_folders

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bwrap_path() is None, reason="needs the bubblewrap sandbox (apt-get install bubblewrap)")]


def at_load(body: str) -> str:
    """A cell that runs ``body`` (as a function: comprehensions see its names) when the grader loads the definitions."""
    function = "def _attack():\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ")
    return "class _Attack:\n" + textwrap.indent(function + "\n\n_attack()", "    ")


def _release_with(folder, *cells: str, notebook: str = "01_embeddings") -> None:
    nb = nbformat.read(str(RELEASE / f"{notebook}.ipynb"), as_version=4)
    nb.cells.extend(nbformat.v4.new_code_cell(c) for c in cells)
    folder.mkdir(parents=True)
    nbformat.write(nb, str(folder / f"{notebook}.ipynb"))


def _solution_with(folder, *cells: str) -> None:
    shutil.copytree(SOLUTIONS, folder)
    path = folder / "01_embeddings.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[1:1] = [nbformat.v4.new_code_cell(c) for c in cells]  # right after the setup cell
    nbformat.write(nb, str(path))


def _hidden_markers() -> list[str]:
    """Distinctive lines of the hidden suites that only verify steps hold (never sent to the sandbox)."""
    public = "".join(p.read_text() for p in (ROOT / "helpers").rglob("*.py"))
    markers = []
    for module, path in suite_files():
        if not module.startswith("autograder.hidden"):
            continue
        source = path.read_text()
        kept = set(probe_source(source).splitlines())
        lines = [line.strip() for line in source.splitlines() if line.strip() and line not in kept]
        markers += [line for line in lines if len(line) > 40 and line not in public and not line.startswith(("#", '"""', "from ", "import "))][:3]
    return markers


FORGE_STREAM = at_load(
    """
    import json, os, stat, sys
    refs = json.loads(PUBLIC_REFERENCES)  # the release's public answers, which every student has
    ids = [c.id for name, m in list(sys.modules.items()) if name.startswith("probes.") for c in m.suite.cases]
    lines = []
    for case_id in ids:
        public = refs.get(case_id, {"value": None})
        obs = {"value": public.get("value"), "calls": [], "error": None, "seconds": 0.0}
        lines.append(json.dumps({"kind": "CaseResult", "id": case_id, "obs": obs}))
    for nb in ("01", "02", "03", "04", "05", "06", "07"):
        lines.append(json.dumps({"kind": "Done", "notebook": nb}))
    data = ("\\n".join(lines) + "\\n").encode()
    for fd in range(3, 64):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, data)
        except OSError:
            pass
    os._exit(0)
    """
)

MALFORMED_STREAM = at_load(
    """
    import json, os, stat
    bad = [
        b"[" * 200000,
        json.dumps({"kind": "CaseResult", "id": "01/tokenize/x", "obs": {"value": 1, "calls": "no", "error": None, "seconds": 0}}).encode(),
        json.dumps({"kind": "CaseResult", "id": "02/softmax/x", "obs": {}}).encode(),
        json.dumps({"kind": "Status", "notebook": ["01"], "problems": 7}).encode(),
        json.dumps({"kind": "CaseResult", "id": 5, "obs": None}).encode(),
        json.dumps({"kind": "CaseResult", "id": "01/embed/x", "obs": {"value": {"$nd": 5}, "calls": [], "error": None, "seconds": 0}}).encode(),
        json.dumps({"kind": "Nonsense"}).encode(),
        b'{"kind": "CaseResult", "id": "01/one_hot/x", "obs": {"value": {"$nd": "<f8", "shape": [4000000], "b64": "' + b"A" * 40_000_000 + b'"}, "calls": [], "error": null, "seconds": 0}}',
        b"\\xff\\xfe not json",
    ]
    for fd in range(3, 64):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                for line in bad:
                    os.write(fd, line + b"\\n")
        except OSError:
            pass
    """
)

PLANT = at_load(
    """
    import os
    planted = "print('PLANTED'); import helpers.checking as c; c.to_plain = lambda *a, **k: None\\n"
    places = ["/tmp", "/tmp/work", os.getcwd(), "/dev/shm", "/mplconfig", "/course", "/course/helpers", "/", "/usr/lib/python3"]
    for folder in places:
        for name in ("statistics.py", "IPython.py", "sitecustomize.py", "numpy_patch.py"):
            try:
                with open(os.path.join(folder, name), "w") as fh:
                    fh.write(planted)
            except OSError:
                pass
        try:
            os.makedirs(os.path.join(folder, "IPython"), exist_ok=True)
            with open(os.path.join(folder, "IPython", "__init__.py"), "w") as fh:
                fh.write(planted)
        except OSError:
            pass
    for path in os.listdir("/mplconfig") if os.path.isdir("/mplconfig") else []:
        try:
            with open(os.path.join("/mplconfig", path), "w") as fh:
                fh.write("garbage")
        except OSError:
            pass
    try:
        with open("/tmp/secret-note.txt", "w") as fh:
            fh.write("left behind")
    except OSError:
        pass
    """
)

# An honest student who imports what the planter planted, and looks for what it left behind.
HONEST_IMPORTS = textwrap.dedent(
    """
    import os
    import statistics
    import IPython
    import matplotlib.pyplot as plt

    class _Look:
        for path in ("/tmp/secret-note.txt", "/tmp/work/statistics.py", "/dev/shm/statistics.py"):
            if os.path.exists(path):
                print("LEFT BEHIND", path)
        plt.figure()
        plt.close("all")
    """
)


def search_sandbox(markers: list[str]) -> str:
    """An attack that looks for the hidden suites' verify code on disk and in memory."""
    return at_load(
        f"""
        import gc, os, sys
        markers = {markers!r}
        found = []
        for top in ("/course", "/tmp", "/mplconfig", "/dev/shm", "/etc"):
            device = os.stat(top).st_dev if os.path.isdir(top) else None
            for folder, dirs, files in os.walk(top):
                # read-only binds of this machine (a checkout or venv under /tmp) are not the sandbox's own files
                dirs[:] = [d for d in dirs if os.lstat(os.path.join(folder, d)).st_dev == device or top == "/course"]
                for name in files:
                    try:
                        text = open(os.path.join(folder, name), errors="replace").read()
                    except OSError:
                        continue
                    found += [f"disk {{folder}}/{{name}}: {{m}}" for m in markers if m in text]
        for name, module in list(sys.modules.items()):
            if ("hidden" in name and not name.startswith("probes.hidden.")) or "solution" in name:
                found.append(f"module {{name}}")
        for obj in gc.get_objects():
            if isinstance(obj, str) and len(obj) > 40:
                found += [f"memory: {{m}}" for m in markers if m in obj]
        code_names = {{f.__code__.co_filename for f in gc.get_objects() if type(f).__name__ == "function"}}
        found += [f"code from {{n}}" for n in code_names if "hidden" in n and not n.startswith("<probes.")]
        try:
            found.append("shadow: " + open("/etc/shadow").read()[:20])
        except OSError:
            pass
        print("SEARCH DONE", len(found))
        for line in found[:50]:
            print("FOUND", line)
        """
    )


@pytest.fixture(scope="module")
def registry():
    return load_registry(list(available()))


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("integrity")
    folders = {}
    public = (ROOT / "helpers" / "selfcheck" / "references.json").read_text()
    _release_with(base / "a_forge", FORGE_STREAM.replace("PUBLIC_REFERENCES", repr(public)))
    _solution_with(base / "b_honest")
    _release_with(base / "c_malformed", MALFORMED_STREAM)
    _solution_with(base / "d_honest")
    _release_with(base / "e_plant", PLANT)
    _solution_with(base / "f_honest_imports", HONEST_IMPORTS)
    _release_with(base / "g_search", search_sandbox(_hidden_markers()))
    for folder in sorted(base.iterdir()):
        folders[folder.name] = folder
    return grade_folders(folders, jobs=1, limits={"notebook_seconds": 30.0, "load_seconds": 10.0})


def _fixed_data_points(registry, notebook: str) -> float:
    """Points a table of public answers could earn: public cases whose public and graded references agree."""
    from autograder.authoring.points import fixed_public_cases

    return sum(c.points for c in fixed_public_cases(registry) if c.notebook == notebook)


def test_honest_students_keep_full_marks(batch):
    for name in ("b_honest", "d_honest", "f_honest_imports"):
        failed = [(t["name"], t["output"][:200]) for t in batch[name]["tests"] if t["status"] != "passed"]
        assert not failed, (name, failed[:3])
        assert batch[name]["score"] == batch[name]["max_score"]


def test_a_forged_result_stream_earns_only_fixed_data_cases(batch, registry):
    forged = batch["a_forge"]
    fixed = _fixed_data_points(registry, "01")
    assert fixed < registry.points("01") / 2, "most of notebook 01's points must be out of reach of a table of public answers"
    assert forged["score"] <= fixed, [t["name"] for t in forged["tests"] if t["status"] == "passed"]
    assert len(forged["tests"]) == len(registry.cases)


def test_malformed_streams_cost_only_their_sender(batch, registry):
    results = batch["c_malformed"]
    assert results["score"] == 0
    assert len(results["tests"]) == len(registry.cases)
    assert all(t["output"].strip() for t in results["tests"])


def test_nothing_survives_into_the_next_student(batch):
    output = batch["f_honest_imports"]["extra_data"]["student_output"]
    assert "PLANTED" not in output
    assert "LEFT BEHIND" not in output


def test_the_sandbox_holds_no_hidden_test_code(batch):
    output = batch["g_search"]["extra_data"]["student_output"]
    assert "SEARCH DONE" in output, output[-2000:]  # the search ran
    assert "FOUND" not in output, output[-3000:]


def test_markers_are_real_hidden_code():
    """The search above can fail: its markers are lines of the hidden suites' verify steps."""
    markers = _hidden_markers()
    assert len(markers) >= 7
    hidden_text = "".join(path.read_text() for module, path in suite_files() if module.startswith("autograder.hidden"))
    assert all(m in hidden_text for m in markers)


def test_staged_package_holds_no_hidden_suite_or_secret(tmp_path, registry):
    from autograder.grading.staging import stage

    staged = stage(tmp_path, [p.source for p in registry.probes])
    assert "autograder/sandbox/worker.py" in staged and "helpers/checking.py" in staged
    forbidden = ("autograder/hidden", "solutions", "references.py", "secret", "grading.py", "runner.py")
    assert not [s for s in staged if any(f in s for f in forbidden)], staged
    for probe in registry.probes:  # and the probe sources carry no verify step
        assert "@" not in "".join(line for line in probe.source.splitlines() if ".verify" in line)
    assert (ROOT / "autograder" / "hidden").is_dir()


def test_results_json_of_the_forger_is_well_formed(batch):
    forged = batch["a_forge"]
    json.dumps(forged)
    assert all(set(t) >= {"name", "score", "max_score", "status", "output"} for t in forged["tests"])


def test_readme_states_the_current_points_split(registry):
    """The README's table of public, hidden and fixed-data points is the suites' own (python -m autograder points)."""
    from autograder.authoring.points import points_table

    assert points_table(registry) in (ROOT / "README.md").read_text()
