"""Hidden State: the course's shared package.

* ``grader.reference``: the reference implementations of everything the book teaches.
* ``grader.demos``: the book's interactive widgets, one per chapter (numbers from ``grader.reference``).
"""

__version__ = "0.1.0"
