"""Hostile submissions, shared by the tests (and the lead's hostile-class test). See ``notebooks.py``."""
