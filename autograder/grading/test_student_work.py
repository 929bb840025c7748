"""The autograder's pytest module: one test item per (submission, notebook).

Items are made by autograder.grading.grade.VerifyPlugin; each holds only plain data that the
worker sent back and the solution's references for the same probes.
"""


def test_student_work(graded):
    """Judge every case of one notebook of one student (see helpers.checking.judge)."""
    graded.verify()
