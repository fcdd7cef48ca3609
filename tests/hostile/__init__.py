"""Submissions a careless or hostile class would hand in, as builder functions (see honest.py)."""
