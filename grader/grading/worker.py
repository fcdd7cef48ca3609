"""A grading worker: one long-lived process that grades many submissions, one at a time.

It pays nbgrader's and jupyter's import cost once, keeps a private copy of the template
gradebook (so it never touches the real one), and for each submission:

1. prepares it (:mod:`.intake`) and stages the gradable notebooks under
   ``DIR/.work/<worker>/submitted/<folder>/<assignment>/``;
2. runs nbgrader's ``Autograde`` converter on each notebook, with the grading chain (:mod:`.chain`),
   writing ``DIR/autograded/<folder>/<assignment>/``;
3. reads the scores back from its private gradebook with ``nbgrader.api.Gradebook``, and
   writes the feedback with nbgrader's ``GenerateFeedback`` (:mod:`.feedback`);
4. returns a plain :class:`~grader.grading.results.SubmissionResult` to the coordinator, which
   alone writes the real gradebook.

Any exception while grading a submission becomes a ``grader_error`` result; the worker goes on.
"""

from __future__ import annotations

import copy
import gc
import logging
import os
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from . import bounds
from .course import AssignmentSpec
from .settings import Limits
from .results import Note, PartResult, SubmissionResult
from .workspace import safe_name


@dataclass
class Job:
    """One submission to grade."""

    student: str
    assignment: str
    folder: str
    fingerprint: str
    more: bool = True  # the coordinator has more jobs queued (the worker prelaunches a kernel for them)


@dataclass
class WorkerSettings:
    """Everything a worker needs, sent once when it starts (plain, picklable data)."""

    workspace: str
    course_root: str
    template_db: str
    specs: dict[str, AssignmentSpec]
    limits: Limits = field(default_factory=Limits)
    preload: list[str] = field(default_factory=lambda: ["torch", "grader.checks"])
    prelaunch: bool = True
    fork: bool = True  # fork kernels from a warm template process (see grader.grading.zygote)
    verifiers: list = field(default_factory=list)  # preprocessor classes or "module.Class" strings
    launcher: object = None  # a grader.grading.kernels.KernelLauncher; None: limits only
    sandboxed: bool = False  # the launcher sandboxes student code (else results are marked unsandboxed)


class Grader:
    """The state a worker keeps between submissions."""

    def __init__(self, settings: WorkerSettings, name: str):
        from .course import ensure_tools_on_path
        from .kernel_source import kernel_settings
        from .kernels import KernelSupply

        ensure_tools_on_path()
        self.settings = settings
        self.name = name
        self.spent = False  # a bound was hit: this process is replaced after the job (see .bounds)
        self.root = Path(settings.workspace)
        self.work = self.root / ".work" / name
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        self.db_path = self.work / "gradebook.db"
        shutil.copyfile(settings.template_db, self.db_path)
        self.db_url = f"sqlite:///{self.db_path}"
        self.log = logging.getLogger(f"grader.grading.worker.{name}")
        self.log.propagate = False
        self.log.setLevel(logging.INFO)
        self.captured = _Capture()
        self.log.addHandler(self.captured)
        from .course import Course

        course = Course(Path(settings.course_root))
        self.course_id = course.course_id()
        self.base_config = course.config()
        self.kernels = KernelSupply(kernel_settings(settings.limits, settings.launcher, settings.course_root,
                                                    self.work / "kernels", preload=settings.preload,
                                                    prelaunch=settings.prelaunch, fork=settings.fork))
        for verifier in settings.verifiers:  # e.g. start the sandboxed runner (its torch import) now
            warm_up = getattr(verifier, "warm_up", None)
            if warm_up is not None:
                warm_up(self._config())

    # ------------------------------------------------------------------ config
    def _config(self, submitted: Path | None = None, **coursedir):
        from .chain import configure

        config = copy.deepcopy(self.base_config)
        config.CourseDirectory.root = str(self.root)
        config.CourseDirectory.source_directory = "source"
        config.CourseDirectory.release_directory = "release"
        config.CourseDirectory.submitted_directory = str(Path(".work") / self.name / "submitted")
        config.CourseDirectory.autograded_directory = "autograded"
        config.CourseDirectory.feedback_directory = "feedback"
        config.CourseDirectory.db_url = self.db_url
        config.CourseDirectory.course_id = self.course_id
        for key, value in coursedir.items():
            setattr(config.CourseDirectory, key, value)
        configure(config, self.settings.limits, self.settings.verifiers)
        config.Autograde.create_student = True
        config.BaseConverter.force = True
        config.TrustedVerification.allow_unsandboxed = not self.settings.sandboxed
        if submitted is not None:  # the file as the student sent it, before any repair
            config.TrustedVerification.submitted_path = str(submitted)
        return config

    # ------------------------------------------------------------------ one submission
    def grade(self, job: Job) -> SubmissionResult:
        started = time.monotonic()
        spec = self.settings.specs[job.assignment]
        result = SubmissionResult(student=job.student, assignment=job.assignment, fingerprint=job.fingerprint,
                                  notebooks=len(spec.notebooks))
        try:
            self._grade(job, spec, result)
        except bounds.PhaseLimit as exc:
            self._over_limit(job, spec, result, f"grading stopped: {exc}")
        except MemoryError as exc:
            self._over_limit(job, spec, result, f"grading stopped: processing it needed more than the grader's "
                                                f"{self.settings.limits.worker_memory_bytes / 2**30:g} GiB of memory "
                                                f"({exc or 'MemoryError'})")
        except Exception as exc:  # noqa: BLE001 - one submission's failure must not stop the others
            self.log.error("grading %s/%s failed:\n%s", job.student, job.assignment, traceback.format_exc())
            result.parts = spec.empty_parts()
            result.notes.append(Note("grader_error", f"the grader failed: {type(exc).__name__}: {exc}"[:500]))
        result.seconds = round(time.monotonic() - started, 3)
        gc.collect()  # closes the finished kernel's ZeroMQ sockets now rather than some jobs later
        return result

    def _over_limit(self, job: Job, spec: AssignmentSpec, result: SubmissionResult, text: str) -> None:
        """The result of a submission whose processing exceeded a bound: zero, a reason, a feedback page."""
        from .feedback import not_graded_page

        self.spent = True
        self.log.error("grading %s/%s exceeded a bound: %s", job.student, job.assignment, text)
        result.parts = spec.empty_parts()
        result.notes.append(Note("limit_exceeded", text[:500]))
        folder = self.root / "feedback" / safe_name(job.student) / job.assignment
        result.feedback = []
        for name in spec.notebooks:
            folder.mkdir(parents=True, exist_ok=True)
            page = folder / f"{name}.html"
            points = sum(part.points for part in spec.parts if part.notebook == name)
            page.write_text(not_graded_page(name, job.assignment, [text], points), encoding="utf-8")
            result.feedback.append(page.relative_to(self.root).as_posix())

    def _phase(self, name: str):
        """The CPU-time bound of one phase of a submission's grading (see :mod:`.bounds`)."""
        return bounds.cpu_budget(name, self.settings.limits.phase_cpu_seconds)

    def _grade(self, job: Job, spec: AssignmentSpec, result: SubmissionResult) -> None:  # noqa: C901
        from . import execute, feedback
        from .intake import prepare_submission

        key = safe_name(job.student)
        with self._phase("reading and repairing the notebook"):
            prepared = prepare_submission(Path(job.folder), spec)
            self._stage(key, job, prepared)
        result.notes += prepared.notes
        result.timestamp = prepared.timestamp
        staging = self.work / "submitted" / key / job.assignment
        autograded = self.root / "autograded" / key / job.assignment
        feedback_dir = self.root / "feedback" / key / job.assignment
        for folder in (autograded, feedback_dir):
            if folder.exists():
                shutil.rmtree(folder)

        context = execute.JobContext(kernels=self.kernels, limits=self.settings.limits)
        graded: dict[str, dict[str, float | None]] = {}
        gradable = [name for name, item in prepared.notebooks.items() if item.notebook is not None]
        for name, item in prepared.notebooks.items():
            result.notes += item.notes
            if item.notebook is None:
                continue
            self.captured.clear()
            context.more = job.more or name != gradable[-1]
            execute.activate(context)
            autograde_started = time.monotonic()
            try:
                with self._phase(f"nbgrader's autograding of {name}.ipynb"):
                    self._autograde(key, job.assignment, name, Path(job.folder) / item.submitted_as)
            except Exception as exc:  # nbgrader raises NbGraderException after logging why
                detail = self.captured.last_error() or f"{type(exc).__name__}: {exc}"
                if bounds.is_memory_error(exc, "\n".join(self.captured.records)):
                    raise MemoryError(f"in nbgrader's autograding of {name}.ipynb") from exc
                result.notes.append(Note("grader_error", f"nbgrader could not autograde {name}.ipynb: {detail}"[:500]))
                continue
            finally:
                execute.activate(None)
                context.timings["autograde"] = context.timings.get("autograde", 0.0) + \
                    time.monotonic() - autograde_started
            with self._phase("reading the scores from the gradebook"):
                graded[name] = self._read_scores(key, job.assignment, name)
            result.notes += context.report(name).notes
            feedback_started = time.monotonic()
            try:
                with self._phase(f"writing the feedback of {name}.ipynb"):
                    feedback.generate(self._config(), dict(student_id=key, assignment_id=job.assignment,
                                                           notebook_id=name), spec.hidden.get(name, []), self.log)
            except Exception as exc:
                if bounds.is_memory_error(exc):
                    raise
                result.notes.append(Note("grader_error", f"the feedback for {name}.ipynb failed: {exc}"[:500]))
            context.timings["feedback"] = context.timings.get("feedback", 0.0) + time.monotonic() - feedback_started
        with self._phase("reading the graded notebooks"):
            self._forget(key, job.assignment)
            verification = self._integrity(autograded, spec, result)
            messages = self._failure_messages(autograded, spec)
        result.timings = phase_timings(context.timings, verification)

        result.parts = []
        for part in spec.parts:
            score = graded.get(part.notebook, {}).get(part.grade_id)
            message = messages.get((part.notebook, part.grade_id), "")
            if part.notebook not in graded:
                message = "not graded"
            result.parts.append(PartResult(notebook=part.notebook, grade_id=part.grade_id, column=part.column,
                                           max_score=part.points, score=float(score or 0.0), message=message))
        for name, item in prepared.notebooks.items():
            page = feedback_dir / f"{name}.html"
            if name not in graded:
                feedback_dir.mkdir(parents=True, exist_ok=True)
                reasons = [note.text for note in item.notes if note.kind in ("missing", "invalid_notebook")] or \
                          [note.text for note in result.notes if note.kind == "grader_error"]
                page.write_text(feedback.not_graded_page(name, job.assignment, reasons,
                                                         sum(p.points for p in spec.parts if p.notebook == name)),
                                encoding="utf-8")
            if page.exists():
                result.feedback.append(page.relative_to(self.root).as_posix())
        shutil.rmtree(staging, ignore_errors=True)

    def _stage(self, key: str, job: Job, prepared) -> None:
        """Write the prepared notebooks where nbgrader's converter reads the submission."""
        import nbformat

        staging = self.work / "submitted" / key / job.assignment
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        if prepared.timestamp:
            (staging / "timestamp.txt").write_text(prepared.timestamp + "\n", encoding="utf-8")
        for name, item in prepared.notebooks.items():
            if item.notebook is not None:
                nbformat.write(item.notebook, staging / f"{name}.ipynb")

    def _autograde(self, key: str, assignment: str, notebook: str, submitted: Path) -> None:
        from nbgrader.converters import Autograde
        from nbgrader.coursedir import CourseDirectory

        config = self._config(submitted, student_id=key, assignment_id=assignment, notebook_id=notebook)
        coursedir = CourseDirectory(config=config, log=self.log)
        Autograde(coursedir=coursedir, config=config, log=self.log).start()

    def _read_scores(self, key: str, assignment: str, notebook: str) -> dict[str, float | None]:
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url, self.course_id) as gb:
            submitted = gb.find_submission_notebook(notebook, assignment, key)
            return {grade.name: grade.auto_score for grade in submitted.grades}

    def _forget(self, key: str, assignment: str) -> None:
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(self.db_url, self.course_id) as gb:
            try:
                gb.remove_submission(assignment, key)
            except MissingEntry:
                pass

    def _failure_messages(self, autograded: Path, spec: AssignmentSpec) -> dict[tuple[str, str], str]:
        """(notebook, grade id) -> why the part lost points, from the autograded notebooks' outputs."""
        import nbformat

        from .feedback import ANSI

        messages = {}
        for name in spec.notebooks:
            path = autograded / f"{name}.ipynb"
            if not path.is_file():
                continue
            notebook = nbformat.read(path, as_version=4)
            secrets = sorted({line for line in spec.hidden.get(name, []) if len(line) >= 6}, key=len, reverse=True)
            for cell in notebook.cells:
                meta = cell.metadata.get("nbgrader", {})
                if not (meta.get("grade") and cell.cell_type == "code"):
                    continue
                text = ""
                for output in cell.get("outputs", []):
                    if output.get("output_type") == "error":
                        text = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                        break
                    if output.get("output_type") == "stream" and output.get("name") == "stderr":
                        text = "wrote to stderr: " + output.get("text", "").strip()
                        break
                text = ANSI.sub("", text)
                for secret in secrets:
                    text = text.replace(secret, "[hidden test]")
                if text:
                    messages[(name, meta["grade_id"])] = text[:2000]
        return messages

    def _integrity(self, autograded: Path, spec: AssignmentSpec, result: SubmissionResult) -> float:
        """Notes from the trusted verification's verdicts (kept in the autograded notebooks' metadata):
        ``suspicious`` with the reasons, ``unsandboxed`` if student code ran without a sandbox.
        Sets ``result.sandboxed``; returns the seconds the verification took."""
        import nbformat

        from grader.integrity.preprocessor import METADATA_KEY
        from grader.integrity.verdict import NotebookVerdict

        seconds, ran = 0.0, False
        for name in spec.notebooks:
            path = autograded / f"{name}.ipynb"
            if not path.is_file():
                continue
            ran = True
            recorded = nbformat.read(path, as_version=4).metadata.get(METADATA_KEY)
            if not recorded:
                continue
            verdict = NotebookVerdict.from_json(recorded)
            seconds += verdict.seconds
            reasons = verdict.all_suspicious()
            if reasons:
                result.notes.append(Note("suspicious", f"{name}.ipynb: " + "; ".join(dict.fromkeys(reasons))))
            lost = [part.name for part in verdict.parts.values() if part.lost_in_runner]
            if lost:
                result.notes.append(Note("lost_in_runner", f"{name}.ipynb: {', '.join(lost)} passed in the "
                                                           "notebook and failed in the verification"))
        if ran:
            result.sandboxed = self.settings.sandboxed
            if not self.settings.sandboxed:
                result.notes.append(Note("unsandboxed", "graded without a sandbox (--unsandboxed)"))
        return seconds

    def close(self) -> None:
        self.kernels.shutdown()


def phase_timings(measured: dict[str, float], verification: float) -> dict[str, float]:
    """Where one submission's grading time went, in seconds, summed over its notebooks.

    ``kernel_start`` (a fresh kernel until it answers), ``imports`` (the notebook's set-up cells),
    ``student_code`` (answer and test cells), ``verification`` (the trusted verification),
    ``writing`` (the rest of nbgrader's autograde: reading, sanitizing, the gradebook, the files;
    and the feedback pages).
    """
    executed = sum(measured.get(key, 0.0) for key in ("kernel_start", "imports", "student_code"))
    writing = measured.get("autograde", 0.0) - executed - verification + measured.get("feedback", 0.0)
    timings = {key: measured.get(key, 0.0) for key in ("kernel_start", "imports", "student_code")}
    timings.update(verification=verification, writing=max(0.0, writing))
    return {key: round(value, 4) for key, value in timings.items()}


class _Capture(logging.Handler):
    """Keeps nbgrader's error messages of the current notebook, to give a reason when it fails."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.records: list[str] = []

    def emit(self, record):
        try:
            self.records.append(record.getMessage())
        except Exception:  # noqa: BLE001
            pass

    def clear(self):
        self.records = []

    def last_error(self) -> str:
        for message in reversed(self.records):
            lines = [line for line in message.strip().splitlines() if line.strip()]
            if lines and not message.startswith("There was an error processing") and \
                    not message.startswith("Please see"):
                return lines[-1][:300]
        return ""


def worker_main(connection, settings: WorkerSettings, name: str, coordinator: int | None = None,  # noqa: C901
                lock=None) -> None:
    """The worker process: receive jobs, send results, until told to stop (``None``) or killed.

    ``coordinator`` is the pid the worker dies with, ``lock`` the workspace lock it holds while it
    lives (an :class:`~grader.grading.lifeline.InheritedFd`; see :mod:`grader.grading.lifeline`).
    """
    from . import lifeline

    if coordinator is not None:
        lifeline.follow(coordinator, fork_server=os.getppid())  # started by the pool's fork server
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    grader = None
    bounds.limit_memory(settings.limits.worker_memory_bytes)
    try:
        grader = Grader(settings, name)
        connection.send(("ready", os.getpid()))
        while True:
            try:
                job = connection.recv()
            except EOFError:
                break
            if job is None:
                break
            result = grader.grade(job)
            # After a bound was hit a fresh worker takes over (see .bounds). "last" says so in the
            # same message as the result, so that the coordinator never sends this process a job.
            connection.send(("last" if grader.spent else "done", result))
            if grader.spent:
                break
    except SystemExit:
        pass
    except Exception:  # noqa: BLE001 - report and exit; the coordinator replaces this worker
        try:
            connection.send(("failed", traceback.format_exc()))
        except Exception:  # noqa: BLE001
            pass
    finally:
        if grader is not None:
            grader.close()
        lifeline.end_descendants()  # whatever close() missed: nothing of this worker outlives it
        sys.stdout.flush()
        # ``lock``'s descriptor stays open until this process has exited: the next run waits for it.
