"""The Gradescope resubmission policy (autograder/integrations/resubmission.py) on synthetic
submission_metadata.json files: N hidden-test feedbacks per window, the next window shows
them again, everything after the due date when the instructor chose so."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from autograder.course import ROOT
from autograder.integrations import gradescope
from autograder.integrations.resubmission import POLICY_FILE, Policy, apply_policy, parse_time, window_of

TZ = timezone(timedelta(hours=-7))
DUE = datetime(2026, 12, 10, 23, 0, tzinfo=TZ)
HIDDEN_OUTPUT = "failed (hidden test): wrong result.\n  hint: softmax does not change when a constant is added"


def results() -> dict:
    """A graded submission: one public pass, one public failure, one hidden pass, one hidden failure, one written answer."""

    def test(name, function, visibility, passed, output=""):
        return {
            "name": f"02 {function}: {name}" + (" (hidden test)" if visibility == "hidden" else ""),
            "score": 1.0 if passed else 0.0,
            "max_score": 1.0,
            "status": "passed" if passed else "failed",
            "output": output,
            "visibility": "visible" if visibility == "public" else "after_published",
            "tags": ["02", function, visibility],
        }

    tests = [
        test("rows sum to one", "softmax", "public", True),
        test("greedy takes the argmax", "generate", "public", False, "expected [1, 2], got [2, 1]"),
        test("shift invariance", "softmax", "hidden", True),
        test("matches torch", "softmax", "hidden", False, HIDDEN_OUTPUT),
        {"name": "written: q03_gradient (pending manual grading)", "score": 0.0, "max_score": 0.0, "status": "passed", "output": "answered",
         "visibility": "visible", "tags": ["03", "q03_gradient", "written"]},
    ]  # fmt: skip
    return {
        "score": 2.0,
        "max_score": 4.0,
        "output": "02_sampling: 2 / 4\n  ✘ softmax: 2 / 3: 1 failed, first: matches torch (hidden test)",
        "tests": tests,
        "extra_data": {},
    }


def metadata(now: datetime, previous: list[datetime], shown: list[bool | None] | None = None) -> dict:
    """Gradescope's submission_metadata.json (the fields the policy reads), with earlier submissions' results."""
    shown = shown or [True] * len(previous)
    prev = []
    for when, was_shown in zip(previous, shown):
        entry = {"submission_time": when.isoformat(), "score": 2.0}
        if was_shown is not None:
            entry["results"] = {"score": 2.0, "extra_data": {"hidden_feedback": was_shown}}
        prev.append(entry)
    return {
        "id": 123,
        "created_at": now.isoformat(),
        "assignment": {"due_date": DUE.isoformat(), "late_due_date": None, "title": "Notebook 02"},
        "users": [{"email": "student@example.com", "id": 1, "name": "Student"}],
        "previous_submissions": prev,
    }


def student_view(res: dict) -> str:
    """Everything a student sees before grades are published: the top-level output and the visible tests."""
    return "\n".join([res["output"]] + [f"{t['name']}: {t['status']}: {t['output']}" for t in res["tests"] if t["visibility"] == "visible"])


def shows_hidden(res: dict) -> bool:
    return any(t["tags"][2] == "hidden" and t["visibility"] == "visible" for t in res["tests"])


POLICY = Policy.parse("3/day")
DAY = datetime(2026, 12, 5, 9, 0, tzinfo=TZ)


def test_policy_parses():
    assert Policy.parse("3/day") == Policy(3, "day", False)
    assert Policy.parse("10 / hours", True) == Policy(10, "hour", True)
    assert Policy.from_json(Policy.parse("2/week").to_json()) == Policy(2, "week", False)
    with pytest.raises(ValueError):
        Policy.parse("3 a day")


def test_the_first_n_submissions_in_a_window_show_hidden_verdicts():
    for k in range(3):
        previous = [DAY + timedelta(hours=i) for i in range(k)]
        res = apply_policy(results(), metadata(DAY + timedelta(hours=k), previous), POLICY)
        assert shows_hidden(res) and res["extra_data"]["hidden_feedback"] is True
        assert "matches torch" in student_view(res) and "hint: softmax" in student_view(res)
        assert f"{k + 1} of 3" in res["output"]


def test_the_n_plus_first_submission_shows_no_hidden_verdict():
    previous = [DAY + timedelta(hours=i) for i in range(3)]
    graded = results()
    res = apply_policy(graded, metadata(DAY + timedelta(hours=5), previous), POLICY)
    view = student_view(res)
    assert not shows_hidden(res) and res["extra_data"]["hidden_feedback"] is False
    assert "(hidden test)" not in view and "hint: softmax" not in view and "matches torch" not in view
    assert "hidden until the next window" in view and "2026-12-06T00:00:00-07:00" in view  # midnight in the submission's time zone
    assert "greedy takes the argmax: failed: expected [1, 2], got [2, 1]" in view  # public tests in full
    assert "✘ 02 generate: 0 / 1 public" in view and "✔ 02 softmax: 1 / 1 public" in view  # the public points, not the hidden ones
    assert res["score"] == graded["score"] == 2.0  # recorded for the instructor
    assert [t["score"] for t in res["tests"]] == [t["score"] for t in graded["tests"]]
    held = [t for t in res["tests"] if t["tags"][2] == "hidden"]
    assert all(t["visibility"] == "after_published" for t in held) and held[1]["output"] == HIDDEN_OUTPUT  # the staff see it
    assert res["extra_data"]["instructor_output"] == graded["output"]
    assert graded == results()  # the input is not changed


def test_the_next_window_shows_them_again():
    previous = [DAY + timedelta(hours=i) for i in range(4)]  # three shown and a fourth held back, all on 5 December
    shown = [True, True, True, False]
    res = apply_policy(results(), metadata(DAY + timedelta(hours=20), previous, shown), POLICY)  # 05:00 on 6 December
    assert shows_hidden(res) and "1 of 3" in res["output"]
    late_evening = apply_policy(results(), metadata(DAY + timedelta(hours=14), previous, shown), POLICY)  # 23:00, same day
    assert not shows_hidden(late_evening)


def test_held_back_submissions_do_not_use_up_the_window_but_unknown_ones_do():
    previous = [DAY + timedelta(hours=i) for i in range(3)]
    assert shows_hidden(apply_policy(results(), metadata(DAY + timedelta(hours=4), previous, [True, True, False]), POLICY))
    assert not shows_hidden(apply_policy(results(), metadata(DAY + timedelta(hours=4), previous, [True, True, None]), POLICY))


def test_after_the_due_date_everything_is_shown_if_chosen():
    previous = [DUE + timedelta(minutes=i) for i in range(1, 6)]
    after = DUE + timedelta(minutes=30)
    res = apply_policy(results(), metadata(after, previous), Policy.parse("3/day", reveal_after_due=True))
    assert all(t["visibility"] == "visible" for t in res["tests"]) and "after the due date" in res["output"]
    res = apply_policy(results(), metadata(after, previous), Policy.parse("3/day"))
    assert not shows_hidden(res)  # not chosen: the limit still holds
    before = apply_policy(
        results(), metadata(DUE - timedelta(minutes=1), [DUE - timedelta(minutes=i) for i in range(2, 6)]), Policy.parse("3/day", True)
    )
    assert not shows_hidden(before)


def test_windows_are_calendar_hours_days_and_weeks_in_the_submissions_time_zone():
    moment = parse_time("2026-12-03T14:22:32.365935-07:00")
    assert [w.isoformat() for w in window_of(moment, "day")] == ["2026-12-03T00:00:00-07:00", "2026-12-04T00:00:00-07:00"]
    assert window_of(moment, "hour")[0].isoformat() == "2026-12-03T14:00:00-07:00"
    assert window_of(moment, "week")[0].isoformat() == "2026-11-30T00:00:00-07:00"  # a Monday
    assert parse_time("2026-12-03T10:00:00Z").tzinfo is not None


def test_run_autograder_applies_the_shipped_policy(tmp_path):
    """The command run_autograder calls rewrites results.json in place; without metadata it leaves the grading as it was."""
    script = gradescope.RUN_AUTOGRADER
    assert f'"$ROOT/source/{POLICY_FILE}"' in script and '"$ROOT/submission_metadata.json"' in script
    assert script.index("-m autograder grade") < script.index("-m autograder.integrations.resubmission")
    results_path, meta_path, policy_path = tmp_path / "results.json", tmp_path / "submission_metadata.json", tmp_path / POLICY_FILE
    results_path.write_text(json.dumps(results()))
    meta_path.write_text(json.dumps(metadata(DAY + timedelta(hours=5), [DAY + timedelta(hours=i) for i in range(3)])))
    policy_path.write_text(json.dumps(POLICY.to_json()))

    def run():
        cmd = [sys.executable, "-m", "autograder.integrations.resubmission", str(results_path), str(meta_path), str(policy_path)]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(results_path.read_text())

    assert not shows_hidden(run())
    meta_path.unlink()
    results_path.write_text(json.dumps(results()))
    assert run()["tests"] == results()["tests"]


@pytest.mark.slow
def test_the_built_autograder_applies_the_policy(tmp_path):
    """End to end: the zip built with --hidden-feedback ships the policy and run_autograder applies it."""
    import shutil
    import zipfile

    from autograder.course import SOLUTIONS
    from tests.synthetic_class import TOKENIZE_SPLIT, plant

    policy = Policy.parse("3/day", reveal_after_due=True)
    zip_path = gradescope.build_zip(tmp_path / "autograder.zip", policy=policy)
    root = tmp_path / "autograder"
    with zipfile.ZipFile(zip_path) as zf:
        assert json.loads(zf.read(POLICY_FILE)) == policy.to_json()
        zf.extractall(root / "source")
    (root / "submission").mkdir()
    plant(SOLUTIONS / "01_embeddings.ipynb", "tokenize", TOKENIZE_SPLIT, root / "submission" / "01_embeddings.ipynb")

    def run(meta: dict) -> dict:
        (root / "submission_metadata.json").write_text(json.dumps(meta))
        shutil.rmtree(root / "results", ignore_errors=True)
        env = {**__import__("os").environ, "AUTOGRADER_ROOT": str(root), "COURSE_KIT_PYTHON": sys.executable}
        proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads((root / "results" / "results.json").read_text())

    first = run(metadata(DAY, []))
    hidden_tokenize = [t for t in first["tests"] if t["tags"][:3] == ["01", "tokenize", "hidden"]]
    assert hidden_tokenize and all(t["visibility"] == "visible" and t["status"] == "failed" for t in hidden_tokenize)
    fourth = run(metadata(DAY + timedelta(hours=3), [DAY + timedelta(hours=i) for i in range(3)]))
    assert not shows_hidden(fourth) and "hidden until the next window" in fourth["output"]
    assert "(hidden test)" not in student_view(fourth) and fourth["score"] == first["score"]
    late = run(metadata(DUE + timedelta(hours=1), [DUE + timedelta(minutes=i) for i in range(1, 5)]))
    assert all(t["visibility"] == "visible" for t in late["tests"])
