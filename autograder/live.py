"""``%load_ext autograder.live`` keeps working: the aids live in :mod:`autograder.lecture.live`."""

from autograder.lecture.live import *  # noqa: F401,F403
from autograder.lecture.live import load_ipython_extension  # noqa: F401
