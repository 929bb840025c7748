"""Trained weights shipped with the course (data only): notebook 07's femto, pico, wide GPT and pico with
LayerNorm, as ``07_<name>.pt`` ({"state_dict", "losses"}). Made by ``python -m autograder.authoring.trained``
from the solution notebook's training code and seeds; read by ``helpers.minigpt_extras.load_trained``."""
