"""The autograder's pytest module: one test item per (submission, case).

Items are made by autograder.grading.VerifyPlugin; each holds only plain data that the
worker sent back and the solution's reference for the same probe.
"""


def test_student_work(graded):
    """Compare one student's result for one case with the solution's (see helpers.checking.judge)."""
    graded.verify()
