"""The course kit's autograder: release builder, sandboxed worker, pytest verification, CLI."""
