"""Hidden State: the course's shared package.

* ``grader.reference``: the reference implementations of everything the book teaches.
"""

__version__ = "0.1.0"
