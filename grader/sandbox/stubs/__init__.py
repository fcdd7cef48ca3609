"""Modules a sandbox sees in place of the real ones (copied by :mod:`grader.sandbox.library`)."""
