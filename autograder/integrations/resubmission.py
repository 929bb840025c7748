"""A resubmission policy for Gradescope: hidden-test feedback at most N times per window.

    python -m autograder gradescope --hidden-feedback 3/day [--reveal-after-due]

Students who may resubmit without limit can hunt the hidden tests: submit, read which
hidden test failed, change one thing, submit again. With a policy, every submission is
graded and its score recorded for the instructor, but only the first N submissions in each
window (a calendar day, hour or week in the submission's own time zone) show their hidden
tests' verdicts; the others show the public tests in full and say that the hidden results
are hidden until the next window, and when it starts. With ``--reveal-after-due``, a
submission made after the assignment's due date shows everything.

The Gradescope autograder reads ``/autograder/submission_metadata.json`` (Gradescope's
file: ``created_at``, ``assignment.due_date``, ``previous_submissions`` with their
``submission_time`` and earlier ``results``) and applies :func:`apply_policy`, a pure
function of (results, metadata, policy, now). A previous submission counts against the
window when its results say it showed hidden feedback (``extra_data.hidden_feedback``);
one whose results are unknown counts too (the policy never gives more than N).

What the student sees is what Gradescope shows of results.json: the top-level output and
the tests whose visibility lets them see them. Hidden tests shown get ``"visible"``;
hidden tests held back get ``"after_published"`` (the student sees them once the
instructor publishes the grades; the instructor sees them at once), the top-level output is
rebuilt from the public tests only, and the grader's full output is kept in
``extra_data.instructor_output``. The score is never changed. While any test is not
visible, Gradescope shows students no total score, so the held-back points do not show
through the total either.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

UNITS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
HELD_BACK = "after_published"  # Gradescope: shown to students once grades are published; to staff at once
POLICY_FILE = "resubmission_policy.json"  # in the autograder zip, beside run_autograder


@dataclass(frozen=True)
class Policy:
    """``limit`` hidden-test feedbacks per ``unit`` window; ``reveal_after_due``: after the due date, show everything."""

    limit: int | None = None  # None: no limit (every submission shows its hidden verdicts)
    unit: str = "day"
    reveal_after_due: bool = False

    @classmethod
    def parse(cls, text: str | None, reveal_after_due: bool = False) -> "Policy":
        """``"3/day"`` -> Policy(3, "day"); also ``N/hour``, ``N/week``; None or "" -> no limit."""
        if not text:
            return cls(None, "day", reveal_after_due)
        found = re.fullmatch(r"\s*(\d+)\s*/\s*(hour|day|week)s?\s*", text)
        if not found:
            raise ValueError(f"a hidden-feedback policy looks like 3/day (N per hour, day or week), not {text!r}")
        return cls(int(found.group(1)), found.group(2), reveal_after_due)

    def to_json(self) -> dict:
        return {"limit": self.limit, "unit": self.unit, "reveal_after_due": self.reveal_after_due}

    @classmethod
    def from_json(cls, data: dict) -> "Policy":
        unit = data.get("unit", "day")
        if unit not in UNITS:
            raise ValueError(f"unknown window {unit!r}")
        limit = data.get("limit")
        return cls(None if limit is None else int(limit), unit, bool(data.get("reveal_after_due", False)))


def parse_time(text: str) -> datetime:
    """An ISO 8601 time as Gradescope writes it ("2018-07-01T14:22:32.365935-07:00"); naive times are UTC."""
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def window_of(moment: datetime, unit: str) -> tuple[datetime, datetime]:
    """The calendar window (start, end) holding ``moment``, in ``moment``'s own time zone (weeks start on Monday)."""
    if unit == "hour":
        start = moment.replace(minute=0, second=0, microsecond=0)
    else:
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        if unit == "week":
            start -= timedelta(days=start.weekday())
    return start, start + UNITS[unit]


def _showed_hidden(previous: dict) -> bool:
    """Whether a previous submission showed hidden feedback: what its results say, else yes (never give more than the limit)."""
    results = previous.get("results")
    if isinstance(results, dict) and isinstance(results.get("extra_data"), dict) and "hidden_feedback" in results["extra_data"]:
        return bool(results["extra_data"]["hidden_feedback"])
    return True


def _is_hidden(test: dict) -> bool:
    tags = list(test.get("tags") or [])
    extra = test.get("extra_data") or {}
    return extra.get("visibility", tags[2] if len(tags) > 2 else "") == "hidden"


def public_summary(tests: list[dict]) -> str:
    """Points per notebook and function over the public tests only (the grader's words; names are \\w identifiers)."""
    rows: dict[tuple[str, str], list[float]] = {}
    for test in tests:
        tags = list(test.get("tags") or [])
        if _is_hidden(test) or tags[2:3] == ["written"] or len(tags) < 2:
            continue
        got, top = rows.setdefault((str(tags[0]), str(tags[1])), [0.0, 0.0])
        rows[(str(tags[0]), str(tags[1]))] = [got + float(test["score"]), top + float(test["max_score"])]
    lines = ["Public tests (hidden tests not shown):"]
    for (nb, function), (got, top) in rows.items():
        lines.append(f"  {'✔' if got == top else '✘'} {nb} {function}: {got:g} / {top:g} public")
    return "\n".join(lines)


def apply_policy(results: dict, metadata: dict | None, policy: Policy, now: datetime | None = None) -> dict:
    """The results a student is shown under ``policy`` (a new dict; ``results`` is not changed).

    ``metadata`` is Gradescope's submission_metadata.json (None: no limit can be applied,
    the results are returned as graded). ``now`` is this submission's time (default:
    ``metadata["created_at"]``). Adds ``extra_data.hidden_feedback`` (whether this one
    showed hidden verdicts: the next submissions count it) and ``extra_data.policy``.
    """
    out = copy.deepcopy(results)
    extra = out.setdefault("extra_data", {})
    tests = out.get("tests") or []
    if metadata is None or (policy.limit is None and not policy.reveal_after_due):
        extra.update(hidden_feedback=True, policy=policy.to_json())
        return out
    now = now or parse_time(metadata.get("created_at") or datetime.now(timezone.utc).isoformat())
    due_text = (metadata.get("assignment") or {}).get("due_date")
    after_due = bool(due_text) and now > parse_time(due_text)
    start, end = window_of(now, policy.unit)
    used = sum(
        1
        for prev in metadata.get("previous_submissions") or []
        if prev.get("submission_time") and start <= parse_time(prev["submission_time"]) < end and _showed_hidden(prev)
    )
    if policy.reveal_after_due and after_due:
        decision, shown = "after the due date: everything shown", True
    elif policy.limit is None or used < policy.limit:
        decision, shown = (
            f"hidden-test feedback {used + 1} of {policy.limit if policy.limit is not None else 'unlimited'} this {policy.unit}",
            True,
        )
    else:
        decision, shown = f"hidden-test feedback used {used} of {policy.limit} times this {policy.unit}", False
    extra.update(
        hidden_feedback=shown,
        policy={**policy.to_json(), "decision": decision, "window_start": start.isoformat(), "window_end": end.isoformat()},
    )
    if shown:
        for test in tests:
            if _is_hidden(test):
                test["visibility"] = "visible"
        if policy.reveal_after_due and after_due:
            for test in tests:
                test["visibility"] = "visible"
        out["output"] = f"{decision}.\n\n{out.get('output', '')}"
        return out
    extra["instructor_output"] = out.get("output", "")
    for test in tests:
        if _is_hidden(test):
            test["visibility"] = HELD_BACK
    out["output"] = (
        f"Graded and recorded. You have seen the hidden tests' results {used} of {policy.limit} times this {policy.unit}: "
        f"this submission's hidden results are hidden until the next window, which starts {end.isoformat()}. "
        "The public tests are shown in full below; run check(...) in your notebook for the same tests.\n\n" + public_summary(tests)
    )
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.integrations.resubmission RESULTS METADATA POLICY``: rewrite RESULTS in place under the policy.

    A missing metadata or policy file leaves the results as graded (with a note for the instructor).
    """
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print(main.__doc__, file=sys.stderr)
        return 2
    results_path, metadata_path, policy_path = map(Path, args)
    results = json.loads(results_path.read_text())
    try:
        policy = Policy.from_json(json.loads(policy_path.read_text()))
    except (OSError, ValueError) as exc:
        print(f"no resubmission policy applied: {policy_path}: {exc}", file=sys.stderr)
        return 0
    try:
        metadata = json.loads(metadata_path.read_text())
    except (OSError, ValueError) as exc:
        print(f"resubmission policy: no readable {metadata_path} ({type(exc).__name__}): hidden feedback shown", file=sys.stderr)
        metadata = None
    shown = apply_policy(results, metadata, policy)
    tmp = results_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(shown, indent=1))
    tmp.replace(results_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
