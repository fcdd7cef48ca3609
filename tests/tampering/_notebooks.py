"""Small edits of notebook dicts, for building the attacks."""

from __future__ import annotations


def meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def cell(nb: dict, grade_id: str) -> dict:
    return next(c for c in nb["cells"] if meta(c).get("grade_id") == grade_id)


def source(c: dict) -> str:
    return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]


def answer(nb: dict, grade_id: str, code: str) -> dict:
    """``nb`` with the answer cell ``grade_id`` holding ``code``."""
    cell(nb, grade_id)["source"] = code
    return nb


def missing(nb: dict, release: dict, *grade_ids: str) -> dict:
    """``nb`` with the answer cells ``grade_ids`` as released (``raise NotImplementedError()``)."""
    for grade_id in grade_ids:
        cell(nb, grade_id)["source"] = cell(release, grade_id)["source"]
    return nb


def insert_after(nb: dict, grade_id: str, code: str, cell_id: str = "student-cell", metadata=None) -> dict:
    index = next(i for i, c in enumerate(nb["cells"]) if meta(c).get("grade_id") == grade_id)
    nb["cells"].insert(index + 1, {"cell_type": "code", "execution_count": None, "id": cell_id,
                                   "metadata": metadata or {}, "outputs": [], "source": code})
    return nb
