"""The grading benchmark: our ``grade`` command against stock nbgrader, on the same class, in one run.

``python -m benchmarks`` (or ``make bench``) generates a class, grades it with both, checks that
they agree, times the book build, and writes ``benchmarks/RESULTS.md``. Modules, one job each:

* :mod:`.classroom`: the class: N students with full, partial and blank submissions, from a seed;
* :mod:`.sampling`: running a command while sampling the memory of its whole process tree;
* :mod:`.stock`: stock nbgrader (``nbgrader autograde`` per assignment, without ``grader.integrity``);
* :mod:`.ours`: ``python -m grader grade`` with its defaults, and where its time went;
* :mod:`.book`: the book build, cold and unchanged;
* :mod:`.report`: the machine, grade agreement and ``RESULTS.md``;
* :mod:`.__main__`: the command line and the order of the runs.

Benchmarks print figures; they assert no times.
"""
