"""nbgrader's side: the trusted verdict becomes the graded cells' outcome, so the gradebook records it.

:class:`TrustedVerification` is the verification step of the one grading chain
(:mod:`grader.grading.chain`, used by plain ``nbgrader autograde`` and by ``python -m grader grade``),
after ``Execute`` (and nbgrader's output clean-up) and before ``SaveAutoGrades``. Two helpers go
with it: :class:`SanitizeMetadata` (before nbgrader's own sanitizing: a copy of a graded cell
becomes a plain cell instead of failing the notebook) and :class:`PrelaunchVerifier` (before
``Execute``: the sandboxed runner imports torch while the kernel runs).

For each graded test cell of the *source* notebook it replaces the executed cell's outputs with
the trusted verdict (:mod:`.verify`): a passing part gets a plain output with the checks' summary,
a failing part an error output (``CheckFailure``, ``ForbiddenCall`` or ``NameError``) carrying the
message ``check()`` would have shown. nbgrader then scores the cell from those outputs as usual
(an error scores zero, anything else full points), so the gradebook, the feedback and the
formgrader keep working unchanged. A graded cell that is missing from the submission is put back
(from the source) with its verdict.

**Which result counts.** The trusted verdict always counts. The notebook's own test cell (what
ran in the student's kernel) decides nothing; what it showed is kept in the cell's metadata
(``hidden_state.kernel``), and when it disagrees with the trusted verdict in a way only tampering
explains (it ran without calling ``check``, or it passed while the trusted verification failed)
the submission is flagged *suspicious*. The whole verdict, with every reason, is stored in the
notebook's metadata under ``hidden_state_integrity`` (nothing of it reaches the student's feedback
beyond the graded cells' outputs).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

from nbformat.notebooknode import from_dict
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Float, Unicode

from grader.grading.outputs import error_output, stdout_output
from grader.grading.repair import keep_first_graded_cells

from grader.sandbox import availability
from .verify import NotebookVerdict, VerifySettings, plan_parts, shared_verifier

METADATA_KEY = "hidden_state_integrity"
CELL_KEY = "hidden_state"
RECEIPT = "recorded; graded by the trusted verification"
UNSANDBOXED_NOTE = "(verified WITHOUT a sandbox: the instructor allowed grading unsandboxed)"


def kernel_result(cell, calls: int) -> str:
    """What the notebook's own test cell showed: ``error``, ``receipt``, ``passed`` or ``silent``."""
    text = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return "error"
        if output.get("output_type") == "stream":
            if output.get("name") == "stderr":
                return "error"
            text.append(output.get("text", ""))
    joined = "".join(text)
    if joined.count(RECEIPT) >= calls:
        return "receipt"
    if joined.count("cases pass (") >= calls:
        return "passed"
    return "silent"


def verdict_outputs(part, sandboxed: bool) -> list:
    note = "" if sandboxed else f"\n{UNSANDBOXED_NOTE}"
    if part.passed:
        return [stdout_output(f"{part.message}\n(verified outside the notebook by the trusted grader){note}\n")]
    return [error_output(part.ename or "CheckFailure", part.message + note)]


def disagreement(kernel: str, passed: bool) -> str | None:
    """A suspicious disagreement between the notebook's own test cell and the trusted verdict, or ``None``."""
    if kernel == "silent":
        return "the notebook's own test cell ran without calling check() (rewritten or bypassed)"
    if kernel == "passed" and not passed:
        return "the notebook's own test cell passed, the trusted verification did not"
    return None


def apply_verdict(nb, source_nb, verdict: NotebookVerdict) -> list[str]:
    """Write ``verdict`` into ``nb``'s graded cells (inserting missing ones); returns the disagreements."""
    plans = {plan.grade_id: plan for plan in plan_parts(source_nb)}
    source_cells = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id"): c for c in source_nb.get("cells", [])}
    present = {}
    for index, cell in enumerate(nb.cells):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in plans and cell.cell_type == "code" and grade_id not in present:
            present[grade_id] = index
    disagreements = []
    for grade_id, plan in plans.items():
        part = verdict.parts[grade_id]
        if grade_id in present:
            cell = nb.cells[present[grade_id]]
            kernel = kernel_result(cell, len(plan.calls))
        else:
            cell = from_dict(copy.deepcopy(dict(source_cells[grade_id])))
            cell.outputs, cell.execution_count = [], None
            cell.metadata.nbgrader = from_dict(dict(cell.metadata.nbgrader))
            cell.id = f"restored-{grade_id}"[:64]
            answer = next((i for i, c in enumerate(nb.cells)
                           if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == plan.name), None)
            at = answer + 1 if answer is not None else len(nb.cells)
            nb.cells.insert(at, cell)
            present = {k: (v + 1 if v >= at else v) for k, v in present.items()}
            present[grade_id] = at
            kernel = "missing"
        reason = disagreement(kernel, part.passed)
        if reason:
            disagreements.append(f"{grade_id}: {reason}")
        cell.outputs = verdict_outputs(part, verdict.sandboxed)
        cell.metadata[CELL_KEY] = {"verified": True, "passed": part.passed, "kind": part.kind, "kernel": kernel,
                                   "sandboxed": verdict.sandboxed}
    return disagreements


class TrustedVerification(NbGraderPreprocessor):
    """Replace every graded cell's outcome with the trusted verification's verdict (see the module)."""

    enabled = Bool(True, help="Verify graded cells outside the student's process.").tag(config=True)
    allow_unsandboxed = Bool(False, help="Verify even where no sandbox works (results are marked "
                                         "unsandboxed); also set by HIDDEN_STATE_UNSANDBOXED=1.").tag(config=True)
    timeout = Float(240.0, help="Seconds the verification of one notebook may take.").tag(config=True)
    part_timeout = Float(60.0, help="Seconds one part's cases may take.").tag(config=True)
    source_path = Unicode("", help="The source notebook (default: from the course directory).").tag(config=True)
    submitted_path = Unicode("", help="The notebook as submitted (default: from the course directory)."
                             ).tag(config=True)

    def settings(self) -> VerifySettings:
        sandboxed = availability.available()
        if not sandboxed and not (self.allow_unsandboxed or availability.allowed_unsandboxed()):
            raise availability.Unsandboxed(availability.unavailable_reason())
        root = self._coursedir().root if self._coursedir() is not None else ""
        protect = [path for path in (root and os.path.join(root, "solutions"), root and os.path.join(root, "source"))
                   if path]
        return VerifySettings(sandboxed=sandboxed, timeout=self.timeout, part_timeout=self.part_timeout,
                              protect=protect)

    @classmethod
    def warm_up(cls, config) -> None:
        """Start the sandboxed runner (it imports torch) before the first notebook needs it."""
        try:
            shared_verifier(cls(config=config).settings()).prelaunch()
        except Exception:  # noqa: BLE001 - the verification reports its problems when it runs
            pass

    def _coursedir(self):
        try:
            from nbgrader.coursedir import CourseDirectory

            return CourseDirectory(config=self.config)
        except Exception:  # noqa: BLE001 - no course directory configured
            return None

    def _paths(self, resources) -> tuple[Path, Path | None]:
        info = resources.get("nbgrader", {})
        notebook, assignment, student = info.get("notebook"), info.get("assignment"), info.get("student")
        source = Path(self.source_path) if self.source_path else None
        submitted = Path(self.submitted_path) if self.submitted_path else None
        coursedir = self._coursedir()
        if source is None and coursedir is not None:
            source = Path(coursedir.format_path(coursedir.source_directory, ".", assignment)) / f"{notebook}.ipynb"
        if submitted is None and coursedir is not None and student:
            submitted = Path(coursedir.format_path(coursedir.submitted_directory, student, assignment)) / \
                f"{notebook}.ipynb"
        if source is None or not source.is_file():
            raise FileNotFoundError(f"the source notebook of {assignment}/{notebook} was not found ({source})")
        return source, submitted

    def preprocess(self, nb, resources):
        if not self.enabled:
            return nb, resources
        import nbformat

        source_path, submitted_path = self._paths(resources)
        source_nb = nbformat.read(source_path, as_version=4)
        raw_nb = None
        if submitted_path is not None and submitted_path.is_file():
            try:
                raw_nb = json.loads(submitted_path.read_text(encoding="utf-8"))
                if not isinstance(raw_nb, dict) or not isinstance(raw_nb.get("cells"), list):
                    raw_nb = None
            except (OSError, ValueError):
                raw_nb = None
        verifier = shared_verifier(self.settings())
        verdict = verifier.verify(nb, source_nb, raw_nb=raw_nb)
        disagreements = apply_verdict(nb, source_nb, verdict)
        verdict.suspicious = list(dict.fromkeys(verdict.suspicious + disagreements))
        nb.metadata[METADATA_KEY] = from_dict(json.loads(json.dumps(verdict.to_json())))
        resources[METADATA_KEY] = verdict
        passed = sum(1 for part in verdict.parts.values() if part.passed)
        self.log.info("trusted verification of %s: %d/%d parts pass, %d suspicious reason(s), %.2f s "
                      "(runner %.2f s, waited %.2f s for it)%s", resources.get("nbgrader", {}).get("notebook"),
                      passed, len(verdict.parts), len(verdict.all_suspicious()), verdict.seconds,
                      verdict.runner_seconds, verdict.startup_wait, "" if verdict.sandboxed else " UNSANDBOXED")
        return nb, resources


class SanitizeMetadata(NbGraderPreprocessor):
    """Before nbgrader's own sanitizing: nbgrader metadata only on the first cell of each grade id the
    source notebook has. A copy of a graded cell (or a cell claiming a grade id the source does not
    have) becomes a plain cell, instead of breaking nbgrader's metadata validation for the whole
    notebook. (The trusted verification reports the copy, from the notebook as submitted.)"""

    def preprocess(self, nb, resources):
        import nbformat

        try:
            source_path, _ = TrustedVerification(config=self.config)._paths(resources)
            source = nbformat.read(source_path, as_version=4)
        except (OSError, ValueError):
            return nb, resources
        keep_first_graded_cells(nb.cells, {c.metadata.get("nbgrader", {}).get("grade_id") for c in source.cells})
        return nb, resources


class PrelaunchVerifier(NbGraderPreprocessor):
    """Put before ``Execute``: starts the sandboxed runner (its torch import) while the kernel runs."""

    def preprocess(self, nb, resources):
        try:
            settings = TrustedVerification(config=self.config).settings()
            shared_verifier(settings).prelaunch()
        except Exception:  # noqa: BLE001 - the verification itself reports problems later
            pass
        return nb, resources
