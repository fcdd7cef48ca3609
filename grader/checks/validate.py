"""Run every check of an exercise notebook at once, as the grader will: ``hidden-state-validate NOTEBOOK ...``.

The student kit's equivalent of ``nbgrader validate``: each notebook is executed from top to bottom in a
fresh kernel (in the notebook's folder, with the environment's ``python3`` kernel), every cell runs even
after one fails, and each graded test cell (nbgrader's ``grade`` flag) is reported with its points: passed,
or failed with the check's message. The notebook file itself is not changed. Exit status: 0 when every
graded cell of every notebook passes, 1 when one fails, 2 when a notebook cannot be read or run.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

CELL_TIMEOUT_S = 600


@dataclass
class PartResult:
    grade_id: str
    points: float
    passed: bool
    message: str = ""


@dataclass
class NotebookResult:
    path: Path
    parts: list[PartResult] = field(default_factory=list)
    problem: str = ""  # why the notebook could not be run at all

    @property
    def passed(self) -> bool:
        return not self.problem and all(part.passed for part in self.parts)


def _error_text(cell) -> str:
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not errors:
        return ""
    error = errors[0]
    return f"{error.get('ename', 'Error')}: {error.get('evalue', '')}".strip()


def validate(path: Path, timeout: int = CELL_TIMEOUT_S) -> NotebookResult:
    """Execute ``path`` in a fresh kernel and report its graded cells (the file is left as it was)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    path = Path(path)
    result = NotebookResult(path)
    try:
        notebook = nbformat.read(path, as_version=4)
    except FileNotFoundError:
        result.problem = "no such file"
        return result
    except Exception as exc:  # noqa: BLE001 - any unreadable notebook: say why, go on with the next
        result.problem = f"not a readable notebook ({type(exc).__name__}: {str(exc)[:200]})"
        return result
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=True,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],  # not the kernel's chatter
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    try:
        client.execute()
    except (CellTimeoutError, DeadKernelError) as exc:
        result.problem = f"the notebook stopped: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade"):
            message = _error_text(cell)
            result.parts.append(PartResult(meta.get("grade_id", "?"), float(meta.get("points", 0) or 0),
                                           passed=not message and not result.problem, message=message))
    return result


def _points(value: float) -> str:
    return f"{value:g} point" + ("" if value == 1 else "s")


def report(result: NotebookResult) -> str:
    """What a student reads: one line per graded cell, the messages of the failures, the points."""
    if result.problem and not result.parts:
        return f"{result.path}: {result.problem}"
    earned = sum(p.points for p in result.parts if p.passed)
    total = sum(p.points for p in result.parts)
    lines = [f"{result.path}: {earned:g} of {_points(total)} in the visible tests"]
    if result.problem:
        lines.append(f"  {result.problem}")
    for part in result.parts:
        mark = "passed" if part.passed else "FAILED"
        lines.append(f"  {mark}  {part.grade_id} ({_points(part.points)})")
        if part.message:
            lines += [f"          {line}" for line in part.message.splitlines()]
    if result.passed:
        lines.append("  Every visible check passes. The graded run adds hidden cases.")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="hidden-state-validate", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT_S, help="seconds per cell (default 600)")
    args = parser.parse_args(argv)
    status = 0
    for path in args.notebooks:
        result = validate(path, args.timeout)
        print(report(result), flush=True)
        status = max(status, 2 if result.problem and not result.parts else (0 if result.passed else 1))
    return status


if __name__ == "__main__":
    sys.exit(main())
