"""Typical student mistakes, written into the notebook solutions, are caught and named, one part at a time.

Each case edits one solution cell the way a student might get it wrong, defines every solution of
the assignment as a notebook would, and runs every check with the forbidden-call rules on: the
edited part must fail with a message naming the mistake, and every other part must still pass
(a forward pass is graded with a correct cell in place of the student's, and so on).
"""

import pytest

from grader.checks import CheckFailure, check

from exercise_helpers import (MUTATIONS, PARTS, define, mutated_solution, solution_cells, source_notebook,
                              strip_markers)

# A second common mistake for every part, besides the one in MUTATIONS (which the autograde tests use).
SECOND_MUTATIONS = [
    # 01_hidden_state
    ("01_hidden_state", "stacked_rnn_forward", "h = h0[layer] if h0 is not None", "h = h0[0] if h0 is not None",
     "every layer starts from h0[0]"),
    ("01_hidden_state", "stacked_rnn_forward", "torch.stack(last_states, dim=0)", "last_states[-1]",
     "h_n of the top layer only"),
    ("01_hidden_state", "bidirectional_rnn_forward",
     "run(x.flip(1), h0_backward, *backward_weights)\n    outputs = torch.cat([forward_outputs, backward_outputs.flip(1)]",
     "run(x, h0_backward, *backward_weights)\n    outputs = torch.cat([forward_outputs, backward_outputs]",
     "backward direction reads x_1 first"),
    ("01_hidden_state", "bidirectional_rnn_forward", "(h0[0], h0[1])", "(h0[1], h0[0])", "h0 halves swapped"),
    ("01_hidden_state", "masked_rnn_forward", "(t < lengths)", "(t <= lengths)", "one step too many"),
    ("01_hidden_state", "masked_rnn_forward", "outputs.append(alive * candidate)", "outputs.append(h)",
     "outputs not zeroed after the end"),
    ("01_hidden_state", "recurrent_parameter_count",
     "        if proj_size > 0:\n            one_direction += proj_size * hidden_size\n", "",
     "projection weights missing"),
    ("01_hidden_state", "recurrent_parameter_count", "else directions * state_size", "else state_size",
     "upper layers read one direction"),
    # 02_cell_state
    ("02_cell_state", "lstm_cell_backward", "grad_c = d_c_next * f", "grad_c = d_c_next",
     "grad_c not scaled by the forget gate"),
    ("02_cell_state", "lstm_cell_backward", "grad_bias = d_a.sum(dim=0)", "grad_bias = d_a.mean(dim=0)",
     "bias gradient averaged over the batch"),
    ("02_cell_state", "coupled_lstm_cell", "h_next = o * torch.tanh(c_next)", "h_next = o * c_next",
     "tanh missing on the cell state"),
    ("02_cell_state", "peephole_lstm_cell", "p_i, p_f, p_o = peephole", "p_f, p_i, p_o = peephole",
     "peephole rows p_i and p_f swapped"),
    ("02_cell_state", "projected_lstm_forward", "h, c = x.new_zeros(B, P), x.new_zeros(B, H)",
     "h, c = x.new_zeros(B, H), x.new_zeros(B, H)", "h0 of size H when state is None"),
    ("02_cell_state", "projected_lstm_forward", "return torch.stack(outputs, dim=1), (h, c)",
     "return torch.stack(outputs, dim=1), h, c", "returned (outputs, h_n, c_n)"),
    # 03_initialization
    ("03_initialization", "BridgedEncoderDecoder", "return torch.tanh(self.bridge(both))", "return self.bridge(both)",
     "tanh missing on the bridge"),
    ("03_initialization", "BridgedEncoderDecoder", "self.decoder(target_inputs, self.initial_state(source))",
     "self.decoder(target_inputs)", "decoder ignores the bridged state"),
    ("03_initialization", "forget_bias_for_retention", "return math.log(per_step) - math.log1p(-per_step)",
     "return math.log(per_step)", "log instead of logit"),
    ("03_initialization", "timescale_forget_bias_", "torch.log(timescales - 1)", "torch.log(timescales)",
     "log(tau) instead of log(tau - 1)"),
    ("03_initialization", "critical_scale", "math.exp(-log_gain / steps)", "math.exp(log_gain / steps)",
     "growth rate instead of scale"),
    # 04_statefulness
    ("04_statefulness", "reset_rows", "return zeroed if pair else zeroed[0]",
     "return (zeroed[0], tensors[1]) if pair else zeroed[0]", "LSTM cell state not reset"),
    ("04_statefulness", "forward_with_resets", "keep = (~starts[:, begin]).to(x.dtype).view(1, -1, 1)",
     "keep = (~starts[:, begin].any()).to(x.dtype).view(1, 1, 1)", "every row reset at a split"),
    ("04_statefulness", "truncated_forward", "return torch.cat(outputs, dim=1), state",
     "return torch.cat(outputs, dim=1), cut(state)", "final state detached"),
    ("04_statefulness", "pack_documents", "starts[row, t] = True", "starts[row, t + n - 1] = True",
     "starts mark the last step"),
    # 05_vanishing_gradients
    ("05_vanishing_gradients", "rnn_bptt", "grad_h * (1 - outputs[:, t] * outputs[:, t])",
     "grad_h * (1 - h_before * h_before)", "tanh derivative at the previous state"),
    ("05_vanishing_gradients", "rnn_bptt", "grad_h = grad_a @ weight_hh", "grad_h = grad_a @ weight_hh.T",
     "W_hh transposed in the backward step"),
    ("05_vanishing_gradients", "numerical_gradient", "    gradient = torch.zeros_like(x)\n",
     "    gradient = torch.zeros_like(x)\n    eps = 1e-6\n", "eps ignored"),
    ("05_vanishing_gradients", "numerical_gradient", "gradient = torch.zeros_like(x)",
     "gradient = torch.zeros(x.shape, dtype=torch.float64)", "result not in x's dtype"),
    ("05_vanishing_gradients", "adaptive_clip_grad_", "if length > limit:", "if length >= limit:",
     "counted units exactly at the threshold"),
    ("05_vanishing_gradients", "adaptive_clip_grad_", "pairs = zip(p, p.grad) if p.dim() >= 2 else [(p, p.grad)]",
     "pairs = [(p, p.grad)]", "one norm per parameter tensor"),
    ("05_vanishing_gradients", "masked_temporal_activation_regularization", "count = pair_is_real.sum() * H",
     "count = pair_is_real.sum()", "summed over the hidden units"),
    ("05_vanishing_gradients", "masked_temporal_activation_regularization",
     "torch.arange(1, T).unsqueeze(0) < lengths.unsqueeze(1)", "torch.ones(B, T - 1, dtype=torch.bool)",
     "padded steps counted"),
]

ALL = MUTATIONS + SECOND_MUTATIONS


def test_every_part_has_at_least_two_student_mistakes():
    for assignment, parts in PARTS.items():
        for part in parts:
            names = {m[4] for m in ALL if m[:2] == (assignment, part)}
            assert len(names) >= 2, f"{assignment}/{part}: {names}"


@pytest.mark.parametrize("assignment, part, old, new, mistake", ALL, ids=[f"{m[1]}: {m[4]}" for m in ALL])
def test_a_student_mistake_fails_only_its_part_and_is_named(assignment, part, old, new, mistake):
    sources = {grade_id: strip_markers(src) for grade_id, src in solution_cells(source_notebook(assignment)).items()}
    sources[part] = strip_markers(mutated_solution(assignment, part, old, new))
    namespace = {"__name__": "__main__"}
    define("import math\nimport torch\nfrom torch import nn\n", namespace=namespace)
    for source in sources.values():
        define(source, namespace=namespace)
    for other in PARTS[assignment]:
        if other == part:
            with pytest.raises(CheckFailure) as failure:
                check(namespace[part])
            likely = str(failure.value).split("other cases also show")[0]
            assert mistake in likely, str(failure.value)
        else:
            check(namespace[other])  # raises if the mistake leaked into another part
