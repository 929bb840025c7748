"""Other platforms: the Gradescope autograder, the student package, nbgrader."""
