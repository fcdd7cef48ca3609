"""Submissions a careless or hostile class would hand in, as builder functions.

* :mod:`.honest`: honest answers in the shapes students write, which must score full;
* :mod:`.names_and_zips`: odd ids, folder names and zips, each with the row it must get;
* :mod:`.notebooks`: pathological notebooks (100,000 cells, a huge cell, deep nesting), each with
  the grade and status it must get;
* :mod:`.pages`: attacks on whoever opens the pages the grader writes.
"""
