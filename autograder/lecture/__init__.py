"""For lecturers: slides, live-coding aids and handouts."""
