"""All writes to the real nbgrader gradebook, from the coordinator process only.

The workers grade against private copies of a template gradebook and send back plain results;
the coordinator records each result here as soon as it arrives, in one transaction, through
``nbgrader.api.Gradebook``. So there is one writer whatever the number of workers (SQLite is
never locked by a worker), and any database nbgrader supports works through ``--db``.

Per submission it records the student, the submission (with its timestamp.txt if any), the
automatic score of every graded cell, and ``flagged`` on each notebook whose status is not ``ok``,
so the instructor sees them in nbgrader's formgrader too.

Students are stored under :func:`gradebook_id`: the exact id, except that an id holding markup
(``<img src=x onerror=...>``) is stored as its workspace folder name (``_img_src_x_onerror-<hash>``),
because formgrader writes gradebook ids into its pages unescaped. ``grades.csv`` and the report
keep the exact id; the folder name is a function of it (:func:`.workspace.safe_name`).
"""

from __future__ import annotations

from .names import has_markup
from .results import Row
from .workspace import safe_name


def gradebook_id(student: str) -> str:
    """The id the gradebook holds for ``student``: the exact id unless it holds markup."""
    return safe_name(student) if has_markup(student) else student


class GradebookWriter:
    def __init__(self, db_url: str, course_id: str):
        from nbgrader.api import Gradebook

        self.gradebook = Gradebook(db_url, course_id)

    def add_students(self, students: list[str]) -> None:
        for student in students:
            self.gradebook.update_or_create_student(gradebook_id(student))

    def has(self, student: str, assignment: str) -> bool:
        """Does the gradebook hold this submission already (e.g. from an earlier run)?"""
        from nbgrader.api import MissingEntry

        try:
            self.gradebook.find_submission(assignment, gradebook_id(student))
            return True
        except MissingEntry:
            return False

    def record(self, row: Row) -> None:
        """Record a graded submission (a row whose result was not graded at all is skipped)."""
        from nbgrader.utils import parse_utc

        result = row.result
        if not result.graded:
            return
        gb = self.gradebook
        try:
            student = gradebook_id(result.student)
            gb.update_or_create_student(student)
            timestamp = parse_utc(result.timestamp) if result.timestamp else None
            submission = gb.update_or_create_submission(result.assignment, student,
                                                        **({"timestamp": timestamp} if timestamp else {}))
            flagged = row.status != "ok"
            scores = {(part.notebook, part.grade_id): part.score for part in result.parts}
            for notebook in submission.notebooks:
                notebook.flagged = flagged
                for grade in notebook.grades:
                    if (notebook.name, grade.name) in scores:
                        grade.auto_score = scores[(notebook.name, grade.name)]
                        grade.needs_manual_grade = grade.manual_score is not None
            gb.db.commit()
        except Exception:
            gb.db.rollback()
            raise

    def close(self) -> None:
        self.gradebook.close()
