"""Command line: ``python -m autograder {release, grade, demo}``.

    python -m autograder release                      # solutions/ -> notebooks/ + public references
    python -m autograder grade SUBMISSION --results results.json [--reveal-hidden]
    python -m autograder grade-all ROOT --csv grades.csv [--jobs N] [--feedback DIR] [--reveal-hidden] [--names]
    python -m autograder gradescope --out autograder.zip [--hidden-feedback 3/day] [--reveal-after-due]
    python -m autograder nbgrader-sync COURSE_DIR ASSIGNMENT  # the kit's marks in nbgrader's gradebook
    python -m autograder student-package --out dist/  # helpers alone (wheel + sdist) for JupyterHub/Colab
    python -m autograder handouts --out build/handouts
    python -m autograder slides [--release] [--annotate] [lecture] [NN ...]   # reveal.js decks, offline (the lecture deck + one per notebook)
    python -m autograder demo                         # release, then grade solutions/ as a submission

Exit status: 0 when grading completed (whatever the score), 2 on a usage error, 1 when
the grader itself failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from autograder.course import SOLUTIONS

REVEAL_HELP = "show hidden tests' inputs, expected values and full messages in results and feedback (after the deadline)"


def score_table(results: dict) -> str:
    """Points per notebook and function, as a plain-text table."""
    rows: dict[tuple[str, str], list[float]] = {}
    for test in results["tests"]:
        nb, function = test["tags"][0], test["tags"][1]
        got, top = rows.get((nb, function), [0.0, 0.0])
        rows[(nb, function)] = [got + test["score"], top + test["max_score"]]
    width = max([len(f) for _, f in rows] + [8])
    lines = [f"{'nb':3} {'function':{width}}  {'score':>11}"]
    for (nb, function), (got, top) in rows.items():
        mark = " " if got == top else "*"
        lines.append(f"{nb:3} {function:{width}}  {got:5g} / {top:<4g}{mark}")
    lines.append(f"{'':3} {'total':{width}}  {results['score']:5g} / {results['max_score']:<4g}")
    return "\n".join(lines)


def cmd_release(args) -> int:
    from autograder.authoring.release import build

    start = time.monotonic()
    written = build()
    for path in written:
        print(f"wrote {path}")
    print(f"release built in {time.monotonic() - start:.1f} s")
    return 0


def cmd_grade(args) -> int:
    folder = Path(args.submission)
    if folder.is_symlink():
        print(f"error: {folder} is a symbolic link: refused (the grader reads only real folders and files)", file=sys.stderr)
        return 2
    if not folder.is_dir():
        print(f"error: {folder} is not a folder of notebooks", file=sys.stderr)
        return 2
    from autograder.grading.grade import grade_submissions
    from autograder.integrations.gradescope import submission_identity

    identity = getattr(args, "student", None) or (submission_identity(Path(args.metadata)) if getattr(args, "metadata", None) else None) or folder.name
    start = time.monotonic()
    results = grade_submissions(
        {folder.name: folder}, verbose=args.verbose, reveal_hidden=getattr(args, "reveal_hidden", False), identities={folder.name: identity}
    )[folder.name]
    from autograder.grading.launch import sandbox_report

    results.setdefault("extra_data", {})["sandbox"] = sandbox_report()  # the instructor's: Gradescope shows students no extra_data
    if args.results:
        from autograder.report.results import results_json

        Path(args.results).write_text(results_json(results))
    print(score_table(results))
    print(results["output"])
    print(f"graded in {time.monotonic() - start:.1f} s" + (f"; results in {args.results}" if args.results else ""))
    return 0


def cmd_grade_all(args) -> int:
    from autograder.grading.batch import grade_all

    root = Path(args.root)
    if not root.is_dir():
        print(f"error: {root} is not a folder of student folders", file=sys.stderr)
        return 2
    feedback = Path(args.feedback) if args.feedback else None
    grade_all(root, Path(args.csv), jobs=args.jobs, feedback_dir=feedback, force=args.force, reveal_hidden=args.reveal_hidden, names=args.names)
    print(f"grades in {args.csv}" + (f"; feedback in {feedback}/" if feedback else "") + f"; class report in {Path(args.csv).resolve().parent / 'report.html'}")
    return 0


def cmd_gradescope(args) -> int:
    from autograder.integrations.gradescope import build_zip
    from autograder.integrations.resubmission import Policy

    try:
        policy = Policy.parse(args.hidden_feedback, args.reveal_after_due) if (args.hidden_feedback or args.reveal_after_due) else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = build_zip(Path(args.out), policy=policy)
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB): upload it as the Gradescope autograder")
    if policy is not None:
        print(f"resubmission policy: hidden-test feedback {f'{policy.limit} per {policy.unit}' if policy.limit is not None else 'unlimited'}"
              + ("; everything shown after the due date" if policy.reveal_after_due else ""))
    return 0


def cmd_student_package(args) -> int:
    from autograder.integrations.student_package import build

    for path in build(Path(args.out)):
        print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")
    print("students install it with: pip install <the .whl> (helpers and the self-check only: no grader, no hidden tests)")
    return 0


def cmd_handouts(args) -> int:
    from autograder.lecture.handouts import build

    start = time.monotonic()
    pages = build(Path(args.out), execute=not args.no_execute)
    print(f"wrote {len(pages)} pages under {args.out}/ (open index.html) in {time.monotonic() - start:.0f} s")
    return 0


def cmd_points(args) -> int:
    from autograder.authoring.points import points_table

    print(points_table())
    return 0


def cmd_slides(args) -> int:
    from autograder.lecture.slides import main_args

    return main_args(args)


def cmd_demo(args) -> int:
    cmd_release(args)
    print("\nGrading the solutions as a sample submission:\n")
    args.submission = str(SOLUTIONS)
    args.results = args.results or "results.json"
    return cmd_grade(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("release", help="build notebooks/ from solutions/ and the public references").set_defaults(func=cmd_release)
    grade = sub.add_parser("grade", help="grade one submission folder")
    grade.add_argument("submission", help="a folder of the student's notebooks")
    grade.add_argument("--results", help="write Gradescope-format results.json here")
    grade.add_argument("-v", "--verbose", action="store_true", help="show pytest's per-test output")
    grade.add_argument("--reveal-hidden", action="store_true", help=REVEAL_HELP)
    grade.add_argument("--student", help="the identity the hidden inputs are drawn for (default: the folder's name)")
    grade.add_argument("--metadata", help="Gradescope's submission_metadata.json: draw for its users[0].id (else its submission id)")
    grade.set_defaults(func=cmd_grade)
    batch = sub.add_parser("grade-all", help="grade every student folder under ROOT")
    batch.add_argument("root", help="a folder with one subfolder of notebooks per student")
    batch.add_argument("--csv", default="grades.csv", help="where to write the grades (default grades.csv)")
    batch.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="workers in parallel (default: the number of cores)")
    batch.add_argument("--feedback", help="write one Markdown feedback file per student here")
    batch.add_argument("--force", action="store_true", help="grade again students whose results are up to date")
    batch.add_argument("--reveal-hidden", action="store_true", help=REVEAL_HELP)
    batch.add_argument("--names", action="store_true", help="name the students in report.html (default: the class report is anonymous)")
    batch.set_defaults(func=cmd_grade_all)
    gs = sub.add_parser("gradescope", help="build the Gradescope autograder zip (setup.sh, run_autograder; references computed per submission in the container)")
    gs.add_argument("--out", default="autograder.zip")
    gs.add_argument("--hidden-feedback", metavar="N/WINDOW", help="show hidden tests' verdicts at most N times per hour, day or week (e.g. 3/day)")
    gs.add_argument("--reveal-after-due", action="store_true", help="after the assignment's due date, show every test of a submission")
    gs.set_defaults(func=cmd_gradescope)
    sp = sub.add_parser("student-package", help="build the student package: helpers alone (wheel + sdist), no grader or hidden tests")
    sp.add_argument("--out", default="dist")
    sp.set_defaults(func=cmd_student_package)
    ho = sub.add_parser("handouts", help="render the executed solutions and the student release to HTML")
    ho.add_argument("--out", default="build/handouts")
    ho.add_argument("--no-execute", action="store_true", help="render the solutions as they are, without running them")
    ho.set_defaults(func=cmd_handouts)
    dev = sub.add_parser("devcheck", help="run one notebook's cases in-process against its solution (authors)")
    dev.add_argument("notebook", help="series number, e.g. 02")
    dev.set_defaults(func=lambda a: __import__("autograder.authoring.devcheck", fromlist=["main"]).main(a.notebook))
    sub.add_parser("points", help="how the points split: public, hidden, and public on data the lecture fixes").set_defaults(func=cmd_points)
    sl = sub.add_parser("slides", help="the lecture deck and one deck per notebook, offline reveal.js (--annotate: write the slideshow metadata)")
    sl.add_argument("notebooks", nargs="*", help="series numbers and/or 'lecture' (default: every deck)")
    sl.add_argument("--out", default="build/slides")
    sl.add_argument("--release", action="store_true", help="the student notebooks (stubs, not executed) instead of the solutions")
    sl.add_argument("--no-execute", action="store_true", help="render the solutions as they are, without running them")
    sl.add_argument("--annotate", action="store_true", help="write the derived slideshow metadata into solutions/ (then run release)")
    sl.set_defaults(func=cmd_slides)
    nbs = sub.add_parser("nbgrader-sync", help="grade an nbgrader course's submissions with the kit and write the marks into its gradebook")
    nbs.add_argument("course_dir", help="the nbgrader course folder (submitted/, gradebook.db)")
    nbs.add_argument("assignment", help="the nbgrader assignment name, e.g. ps01")
    nbs.add_argument("--jobs", type=int, default=0, help="workers in parallel (default: the number of cores)")
    nbs.add_argument("--db", help="the gradebook's database URL (default: sqlite:///COURSE_DIR/gradebook.db)")
    nbs.set_defaults(func=lambda a: __import__("autograder.integrations.nbgrader_gradebook", fromlist=["main_args"]).main_args(a))
    demo = sub.add_parser("demo", help="build the release, then grade solutions/ as a sample submission")
    demo.add_argument("--results", help="where to write results.json (default ./results.json)")
    demo.add_argument("-v", "--verbose", action="store_true")
    demo.set_defaults(func=cmd_demo)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
