"""One grading run, from the submissions to ``grades.csv``, the feedback and ``report.html``.

1. take the workspace's lock; unpack the zip (safely) if the submissions are one;
2. discover students and assignment folders; pick the assignments;
3. prepare the assignments with nbgrader (only those whose source changed);
4. skip every submission whose files, assignment and limits are unchanged since it was last graded
   (unless ``force``); a run that was interrupted resumes here;
5. grade the rest on the worker pool; record each result in the gradebook and the resume state
   the moment it arrives, so an interruption loses only the submissions in flight;
6. write ``grades.csv`` and ``report.html`` for every student and selected assignment.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import course as course_module
from . import report as report_module
from .settings import Limits
from .gradebook import GradebookWriter
from .pool import WorkerPool
from .progress import Progress
from .results import Note, Row, SubmissionResult, write_grades_csv
from .submissions import SubmissionsError, discover, folder_fingerprint, unpack
from .worker import Job, WorkerSettings
from .workspace import Workspace, atomic_write_text


@dataclass
class RunOptions:
    submissions: Path
    out: Path
    course_root: Path = field(default_factory=Path.cwd)
    assignments: list[str] = field(default_factory=list)
    workers: int = 1
    db_url: str | None = None
    limits: Limits = field(default_factory=Limits)
    force: bool = False
    quiet: bool = False
    preload: list[str] = field(default_factory=lambda: ["torch", "grader.checks"])
    prelaunch: bool = True
    fork: bool = True
    verifiers: list = field(default_factory=list)  # more nbgrader preprocessors after the execution
    launcher: object = None  # a KernelLauncher; None: the sandbox's (or plain limits when unsandboxed)
    verify: bool = True  # decide every graded part with the trusted verification (grader.integrity)
    sandboxed: bool = True  # run student code in bubblewrap sandboxes; refuse if they do not work here


@dataclass
class RunSummary:
    rows: list[Row]
    graded: int
    reused: int
    seconds: float
    problems: list[str]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        return counts


class UsageError(RuntimeError):
    """Something the instructor can fix on the command line (shown without a traceback)."""


def _settings_fingerprint(options: RunOptions) -> str:
    """What, besides the files, decides a grade: the limits and the integrity mode."""
    limits = options.limits
    text = json.dumps({"timeout": limits.timeout, "cell_timeout": limits.cell_timeout,
                       "memory": limits.memory_bytes, "output": limits.max_output_bytes,
                       "interrupt": limits.output_interrupt_bytes, "file": limits.file_bytes,
                       "phase_cpu": limits.phase_cpu_seconds, "worker_memory": limits.worker_memory_bytes,
                       "verify": options.verify, "sandboxed": options.sandboxed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def integrity(options: RunOptions, protect: list[Path]) -> tuple[list, object]:
    """``(verifiers, launcher)`` for the run: the trusted verification and the sandboxed kernels.

    Raises :class:`UsageError` when a sandbox is asked for (the default) but does not work here.
    """
    verifiers, launcher = list(options.verifiers), options.launcher
    if options.sandboxed:
        from grader.sandbox import availability, kernel_launcher

        if not availability.available():
            raise UsageError(f"cannot sandbox student code here: {availability.unavailable_reason()}. Install "
                             f"bubblewrap and run as root, or pass --unsandboxed to grade without a sandbox "
                             f"(every result is then marked unsandboxed)")
        if launcher is None:
            launcher = kernel_launcher.SandboxKernelLauncher(protect=[str(path) for path in protect])
    if options.verify:
        from grader.integrity.preprocessor import TrustedVerification

        verifiers.insert(0, TrustedVerification)
    return verifiers, launcher


def _missing_result(workspace: Workspace, student: str, spec) -> SubmissionResult:
    """The row of an assignment a student has no folder for, with a feedback page saying so."""
    from .feedback import not_graded_page

    text = f"no folder {spec.name}/ was submitted"
    result = SubmissionResult(student=student, assignment=spec.name, parts=spec.empty_parts(),
                              notes=[Note("missing", text)], graded=False, notebooks=len(spec.notebooks))
    folder = workspace.feedback_dir(student, spec.name)
    for notebook in spec.notebooks:
        page = folder / f"{notebook}.html"
        folder.mkdir(parents=True, exist_ok=True)
        points = sum(part.points for part in spec.parts if part.notebook == notebook)
        page.write_text(not_graded_page(notebook, spec.name, [text], points), encoding="utf-8")
        result.feedback.append(page.relative_to(workspace.root).as_posix())
    return result


def run(options: RunOptions, log: logging.Logger | None = None) -> RunSummary:
    log = log or logging.getLogger("grader.grading")
    started = time.monotonic()
    course, submissions = _inputs(options)
    course_module.ensure_tools_on_path()
    workspace = Workspace(options.out)
    _check_apart(submissions, workspace.root)
    verifiers, launcher = integrity(options, [workspace.root, course.root / "solutions"])
    with workspace:
        # 1-2. submissions and what they hold
        found, names = _discover(options, submissions, workspace, course.assignments)
        # 3. the assignments, with nbgrader
        db_url = options.db_url or workspace.default_db_url
        template_url = f"sqlite:///{workspace.state / 'template.db'}"
        specs = course_module.prepare(course, workspace, names, db_url, template_url, log)
        # 4. what is new or changed
        rows, jobs = _plan(options, workspace, found, names, specs)
        reused = sum(1 for row in rows.values() if row.result.graded)
        # 5. grading
        prepared_at = time.monotonic()
        settings = WorkerSettings(workspace=str(workspace.root), course_root=str(course.root),
                                  template_db=str(workspace.state / "template.db"), specs=specs,
                                  limits=options.limits, preload=list(options.preload),
                                  prelaunch=options.prelaunch, fork=options.fork,
                                  verifiers=verifiers, launcher=launcher, sandboxed=options.sandboxed)
        graded, worker_start = _grade(options, workspace, GradebookWriter(db_url, course.course_id()), settings,
                                      found, rows, jobs)
        # 6. results
        ordered = [rows[key] for key in sorted(rows)]
        seconds = round(time.monotonic() - started, 1)
        summary = {"graded": graded, "reused": reused, "seconds": seconds, "workers": options.workers,
                   "verified": options.verify, "sandboxed": options.sandboxed,
                   "limits": options.limits.describe(),
                   "grading_seconds": round(time.monotonic() - prepared_at, 1)}
        if worker_start:
            summary["worker_start"] = worker_start
        result = RunSummary(rows=ordered, graded=graded, reused=reused, seconds=seconds, problems=found.problems)
        _write_results(workspace, result, names, specs, found, summary)
        return result


def _inputs(options: RunOptions):
    """``(course, submissions path)``, or :class:`UsageError` for a course, path or assignment that is not there."""
    try:
        course = course_module.Course(options.course_root)
    except course_module.CourseError as exc:
        raise UsageError(str(exc)) from None
    submissions = Path(options.submissions)
    if not submissions.exists():
        raise UsageError(f"{submissions} does not exist")
    known = course.assignments
    unknown = [name for name in options.assignments if name not in known]
    if unknown:
        raise UsageError(f"unknown assignment(s) {', '.join(unknown)}; the course has {', '.join(known)}")
    return course, submissions.resolve()


def _check_apart(submissions: Path, out: Path) -> None:
    if submissions == out or out in submissions.parents:
        raise UsageError("the output folder must not contain the submissions")
    if submissions.is_dir() and submissions in out.parents:
        raise UsageError("the output folder must not be inside the submissions folder")


def _discover(options: RunOptions, submissions: Path, workspace: Workspace, known: list[str]):
    """``(what the submissions hold, the assignments to grade)``; a zip is unpacked (safely) first."""
    rejected = []
    if submissions.is_file():
        if submissions.suffix.lower() != ".zip":
            raise UsageError(f"{submissions} is a file but not a .zip")
        state = workspace.load_json("unpacked.json")
        try:
            root, rejected = unpack(submissions, workspace.unpacked, state)
        except SubmissionsError as exc:
            raise UsageError(str(exc)) from None
        workspace.save_json("unpacked.json", state)
    else:
        root = submissions
    found = discover(root, known, rejected)
    names = list(options.assignments) or [name for name in known if name in found.assignments]
    if not names:
        raise UsageError(f"no assignment folders of this course ({', '.join(known)}) were found in {root}")
    return found, names


def _plan(options: RunOptions, workspace: Workspace, found, names: list[str], specs: dict):
    """``(rows, jobs)``: the rows already known (missing folders, unchanged since the last run) and the
    submissions to grade."""
    limits_key = _settings_fingerprint(options)
    previous = workspace.load_results()
    rows: dict[tuple[str, str], Row] = {}
    jobs: list[Job] = []
    for student in found.students:
        for name in names:
            extra = found.notes_for(student, name)
            folder = found.folders.get((student, name))
            if folder is None:
                rows[(student, name)] = Row(_missing_result(workspace, student, specs[name]), extra)
                continue
            fingerprint = hashlib.sha256(
                f"{folder_fingerprint(folder)}:{specs[name].fingerprint}:{limits_key}".encode()).hexdigest()
            earlier = previous.get((student, name))
            if not options.force and _still_valid(earlier, fingerprint):
                rows[(student, name)] = Row(earlier, extra)
                continue
            jobs.append(Job(student=student, assignment=name, folder=str(folder), fingerprint=fingerprint))
    return rows, jobs


def _still_valid(earlier: SubmissionResult | None, fingerprint: str) -> bool:
    return earlier is not None and earlier.fingerprint == fingerprint and \
        all(note.kind != "grader_error" for note in earlier.notes)


def _grade(options: RunOptions, workspace: Workspace, writer: GradebookWriter, settings: WorkerSettings, found,
           rows: dict, jobs: list[Job]) -> tuple[int, list[float]]:
    """Grade ``jobs`` on the pool; each result is recorded (gradebook, resume state, ``rows``) as it arrives.
    Returns ``(how many were graded, the workers' start-up seconds)``."""
    graded, worker_start = 0, []
    try:
        writer.add_students(found.students)
        for (student, name), row in rows.items():
            # Results kept from earlier runs are in the gradebook already, unless it is a new one.
            if row.result.graded and not writer.has(student, name):
                writer.record(row)
        if not jobs:
            return graded, worker_start
        total = sum(len(settings.specs[job.assignment].notebooks) for job in jobs)
        workers = max(1, min(options.workers, len(jobs)))
        with Progress(total, enabled=not options.quiet) as bar, \
                WorkerPool(workers, settings, workspace.lock_fd) as pool:
            for result in pool.run(sorted(jobs, key=lambda job: (job.student, job.assignment))):
                row = Row(result, found.notes_for(result.student, result.assignment))
                writer.record(row)
                workspace.save_result(result)
                rows[(result.student, result.assignment)] = row
                graded += 1
                bar.update(result.notebooks)
            worker_start = pool.start_seconds
    finally:
        writer.close()
    return graded, worker_start


def _write_results(workspace: Workspace, result: RunSummary, names: list[str], specs: dict, found,
                   summary: dict) -> None:
    """``grades.csv``, ``report.html`` and ``run.json``."""
    part_columns = [part.column for name in names for part in specs[name].parts]
    write_grades_csv(workspace.grades_csv, result.rows, part_columns)
    report_module.write(workspace.report_html, result.rows, specs, found.problems, summary)
    atomic_write_text(workspace.run_json, json.dumps(
        {**summary, "assignments": names, "students": len(found.students), "rows": len(result.rows),
         "statuses": result.counts()}, indent=1, sort_keys=True))
