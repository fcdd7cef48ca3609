"""Hidden State: the course's shared package.

* ``grader.reference``: the reference implementations of everything the book teaches.
* ``grader.demos``: the book's interactive widgets, one per chapter (numbers from ``grader.reference``).
* ``grader.grading``: grading a class's submissions in one command (``python -m grader grade``).
"""

__version__ = "0.1.0"
