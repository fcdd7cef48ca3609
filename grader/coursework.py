"""The course's notebooks as data, and student versions of them (for the tests and the benchmark).

* :func:`source_notebook`, :func:`release_notebook`: ``solutions/<a>/<a>.ipynb`` (solutions and
  hidden tests) and ``exercises/<a>/<a>.ipynb`` (the student release nbgrader generated from it);
* :func:`solution_cells`, :func:`strip_markers`: the answer cells, and their code as a student
  would have written it (without nbgrader's ``### BEGIN/END SOLUTION`` markers);
* :func:`filled_release`: the release with some answer cells filled in, i.e. what a student
  submits (the release's metadata, checksums and locked cells, with the student's code);
  :func:`full_submission`: every answer cell solved;
* :data:`MUTATIONS`: one plausible mistake per graded part, with the mistake the checks must name;
  :func:`mutated_solution` applies one.

Nothing here runs a notebook or imports nbgrader or torch.
"""

from __future__ import annotations

import json
from pathlib import Path

from .notebooks import cell_source, nbgrader_meta, strip_markers

ROOT = Path(__file__).resolve().parents[1]


def source_notebook(assignment: str, root: Path = ROOT) -> dict:
    """The source notebook of ``assignment``, with solutions and hidden tests."""
    return json.loads((root / "solutions" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))


def release_notebook_path(assignment: str, root: Path = ROOT) -> Path:
    """Where the student release of ``assignment`` is: ``exercises/<a>/<a>.ipynb``."""
    return root / "exercises" / assignment / f"{assignment}.ipynb"


def release_notebook(assignment: str, root: Path = ROOT) -> dict:
    """The student release of ``assignment``, as ``python -m grader.release`` generated it."""
    path = release_notebook_path(assignment, root)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: regenerate the release with `python -m grader.release`")
    return json.loads(path.read_text(encoding="utf-8"))


def solution_cells(notebook: dict) -> dict[str, str]:
    """grade_id -> source of every autograded-answer cell."""
    return {nbgrader_meta(c)["grade_id"]: cell_source(c) for c in notebook["cells"]
            if nbgrader_meta(c).get("solution")}


def filled_release(release: dict, sources: dict[str, str]) -> dict:
    """The release notebook with its answer cells replaced by ``sources`` (grade_id -> code)."""
    notebook = json.loads(json.dumps(release))
    for cell in notebook["cells"]:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution") and grade_id in sources:
            cell["source"] = sources[grade_id]
    return notebook


def solved_sources(assignment: str, root: Path = ROOT) -> dict[str, str]:
    """grade_id -> the solution's code of every answer cell, without markers."""
    return {gid: strip_markers(src) for gid, src in solution_cells(source_notebook(assignment, root)).items()}


def full_submission(assignment: str, root: Path = ROOT) -> dict:
    """The release with every answer cell solved: a full-marks submission."""
    return filled_release(release_notebook(assignment, root), solved_sources(assignment, root))


# ----------------------------------------------------------------------------- mutations

# (assignment, part, text in the solution, replacement, the mistake the failure message must name)
MUTATIONS = [
    # 01_hidden_state
    ("01_hidden_state", "stacked_rnn_forward", "layer_input[:, t] @ weight_ih.T", "x[:, t] @ weight_ih.T",
     "every layer reads x"),
    ("01_hidden_state", "bidirectional_rnn_forward", "backward_outputs.flip(1)", "backward_outputs",
     "backward outputs in reading order"),
    ("01_hidden_state", "masked_rnn_forward", "h = alive * candidate + (1 - alive) * h", "h = candidate",
     "padding read into the state"),
    ("01_hidden_state", "recurrent_parameter_count", "total += directions * one_direction",
     "total += one_direction", "backward direction not counted"),
    # 02_cell_state
    ("02_cell_state", "lstm_cell_backward", "d_c_next = grad_h_next * o * (1 - t * t)", "d_c_next = grad_h_next * o",
     "tanh derivative missing on the cell path"),
    ("02_cell_state", "coupled_lstm_cell", "c_next = (1 - i) * c + i * g", "c_next = i * c + (1 - i) * g",
     "coupling the wrong way round"),
    ("02_cell_state", "peephole_lstm_cell", "output_gate = torch.sigmoid(a_o + p_o * c_next)",
     "output_gate = torch.sigmoid(a_o + p_o * c)", "output gate looks at the old cell state"),
    ("02_cell_state", "projected_lstm_forward", "        outputs.append(h)\n",
     "        outputs.append(torch.sigmoid(a_o) * torch.tanh(c))\n", "outputs before the projection"),
    # 03_initialization
    ("03_initialization", "BridgedEncoderDecoder", "torch.cat([h_last, c_last], dim=-1)",
     "torch.cat([c_last, h_last], dim=-1)", "cell state first in the bridge"),
    ("03_initialization", "forget_bias_for_retention", "per_step = math.exp(math.log(retention) / steps)",
     "per_step = retention", "steps ignored"),
    ("03_initialization", "timescale_forget_bias_", 'if "bias" not in name:', 'if "bias_ih" not in name:',
     "bias_hh not zeroed"),
    ("03_initialization", "critical_scale", "math.log(torch.linalg.matrix_norm(product, ord=2))",
     "math.log(torch.linalg.matrix_norm(product))", "Frobenius norm"),
    # 04_statefulness
    ("04_statefulness", "reset_rows", "torch.where(flagged, torch.zeros_like(s), s)",
     "torch.where(flagged, s, torch.zeros_like(s))", "mask inverted"),
    ("04_statefulness", "forward_with_resets", "{t for t in range(T) if starts[:, t].any()}", "set()",
     "resets only at the chunk's first step"),
    ("04_statefulness", "truncated_forward", "        state = cut(state)\n",
     "        state = cut(state) if start == 0 else state\n", "state not detached between chunks"),
    ("04_statefulness", "pack_documents", "row = min(range(batch_size), key=lambda b: lengths[b])",
     "row = len(placed) % batch_size", "documents dealt round-robin"),
    # 05_vanishing_gradients
    ("05_vanishing_gradients", "rnn_bptt", "grad_h = grad_h + grad_outputs[:, t]", "grad_h = grad_outputs[:, t]",
     "gradient from step t+1 forgotten"),
    ("05_vanishing_gradients", "numerical_gradient", "(f_plus - f_minus) / (2 * eps)", "(f_plus - f_minus) / eps",
     "divided by eps instead of 2 eps"),
    ("05_vanishing_gradients", "adaptive_clip_grad_", "limit = clipping * max(weight.norm().item(), eps)",
     "limit = clipping * weight.norm().item()", "weight norm not floored at eps"),
    ("05_vanishing_gradients", "masked_temporal_activation_regularization",
     "torch.arange(1, T).unsqueeze(0) < lengths", "torch.arange(1, T).unsqueeze(0) <= lengths",
     "the step into the padding counted"),
]


def mutated_solution(assignment: str, part: str, old: str, new: str) -> str:
    """The solution of answer cell ``part`` (with its markers) with ``old`` replaced by ``new``."""
    source = solution_cells(source_notebook(assignment))[part]
    if source.count(old) != 1:
        raise ValueError(f"mutation text not found exactly once in {part}: {old!r}")
    return source.replace(old, new)
