"""The autograder's pytest module: one test item per submission, run as soon as that student's run ends.

Items are made by autograder.grading.grade (StudentItem; NotebookItem in tests): each holds
only plain data that the worker sent back and the solution's references for the same
probes. An item's body is the judge loop over its cases; its outcome is whether every case
passed, and the verdicts (with their causes) are the data results.json is built from.
"""


def test_student_work(graded):
    """Judge every case of one student (see helpers.checking.judge and GradedItem.classify)."""
    graded.verify()
