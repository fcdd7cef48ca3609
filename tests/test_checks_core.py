"""The shared machinery of ``grader.checks``: comparison, type validation, forbidden calls, dispatch."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import grader.checks as checks
from grader.checks import CHECKS, CheckFailure, ForbiddenCall, check
from grader.checks.compare import compare_outcomes, compare_tensors, compare_values
from grader.checks.core import Case, Foreign, Outcome, call_function, snapshot
from grader.checks import forbidden, uses

from exercise_helpers import ASSIGNMENTS, PARTS, define

# ----------------------------------------------------------------------------- comparison


def test_first_mismatch_is_reported_with_index_and_values():
    expected = torch.arange(12, dtype=torch.float64).reshape(3, 4)
    got = expected.clone()
    got[1, 2] = 100.0
    got[2, 3] = -1.0
    message = compare_tensors("h_next", got, expected)
    assert "h_next" in message and "[1, 2]" in message
    assert "expected 6" in message and "got 100" in message
    assert "2 of 12 entries differ" in message


def test_agreeing_tensors_pass_within_the_dtype_tolerance():
    expected = torch.randn(4, 5)
    assert compare_tensors("x", expected * (1 + 1e-6), expected) is None
    assert compare_tensors("x", expected + 1e-2, expected) is not None
    exact = torch.randn(4, 5, dtype=torch.float64)
    assert compare_tensors("x", exact * (1 + 1e-6), exact) is not None  # float64 is held to tighter tolerance


def test_dtype_shape_and_type_are_validated():
    expected = torch.zeros(2, 3)
    assert "dtype" in compare_tensors("out", torch.zeros(2, 3, dtype=torch.float64), expected)
    message = compare_tensors("out", torch.zeros(3, 2), expected)
    assert "shape (2, 3)" in message and "(3, 2)" in message and "swapped" in message
    assert "numpy" in compare_tensors("out", snapshot(np.zeros((2, 3))), expected)
    assert "Parameter" in compare_tensors("out", snapshot(nn.Parameter(torch.zeros(2, 3))), expected)
    assert ".item()" in compare_tensors("out", 0.5, torch.tensor(0.5))


def test_tensor_subclasses_are_not_accepted_as_tensors():
    class MyTensor(torch.Tensor):
        pass

    value = snapshot(torch.zeros(3).as_subclass(MyTensor))
    assert isinstance(value, Foreign) and "MyTensor" in value.type_name
    assert compare_tensors("out", value, torch.zeros(3)) is not None


def test_non_finite_values_are_reported():
    expected = torch.ones(3)
    got = torch.tensor([1.0, math.nan, 1.0])
    assert "not finite" in compare_tensors("out", got, expected)


def test_python_number_types_are_validated():
    assert "Python int" in compare_values("count", 12.0, 12)
    assert "Python int" in compare_values("count", torch.tensor(12), 12)
    assert compare_values("count", 12, 12) is None
    assert "expected 12, got 13" in compare_values("count", 13, 12)
    assert "Python float" in compare_values("rate", torch.tensor(0.5), 0.5)
    assert compare_values("stats", {"a": 1.0}, {"a": 1.0, "b": 2.0}) is not None


def test_in_place_modification_of_an_input_is_detected():
    def scale(states):
        states.mul_(2)
        return states

    case = Case(label="states", args={"states": torch.ones(2, 2)})
    got = call_function(scale, case, student=True, rules=forbidden.REFERENCE_ONLY)
    expected = call_function(lambda states: states * 2, case, student=False)
    assert got.mutated == ["states"]
    assert "in place" in compare_outcomes(case, got, expected)


def test_missing_gradient_is_reported():
    def detached(x):
        return (x * 2).detach()

    case = Case(label="x", args={"x": torch.ones(3)}, grad=("x",), cotangent=torch.ones(3))
    got = call_function(detached, case, student=True, rules=forbidden.REFERENCE_ONLY)
    expected = call_function(lambda x: x * 2, case, student=False)
    assert "no gradient reaches `x`" in compare_outcomes(case, got, expected)


def test_wrong_gradient_with_right_values_is_reported():
    class WrongBackward(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 3

    case = Case(label="x", args={"x": torch.ones(3)}, grad=("x",), cotangent=torch.ones(3))
    got = call_function(WrongBackward.apply, case, student=True, rules=forbidden.REFERENCE_ONLY)
    expected = call_function(lambda x: x * 2, case, student=False)
    assert "gradient of the loss with respect to `x`" in compare_outcomes(case, got, expected)


# ----------------------------------------------------------------------------- dispatch


def test_every_part_has_a_check_with_the_reference_name():
    import grader.reference as reference
    from grader import answers

    for assignment in ASSIGNMENTS:
        names = [c.name for c in checks.ASSIGNMENTS[assignment]]
        assert names == list(PARTS[assignment])
        for name in names:
            # A graded part's reference is in grader.answers; parts not moved there yet keep grader.reference's.
            found = answers.answers().get(name)
            expected = found.reference if found else getattr(reference, name)
            assert CHECKS[name].reference is expected and expected.__name__ == name


def test_every_check_knows_at_least_two_mistakes():
    for name, spec in CHECKS.items():
        assert len(spec.mistakes()) >= 2, name


def test_check_dispatches_on_the_name_and_rejects_unknown_functions():
    def not_an_exercise(x):
        return x

    with pytest.raises(ValueError, match="no check for 'not_an_exercise'"):
        check(not_an_exercise)


def test_a_passing_check_prints_one_line(capsys):
    recurrent_parameter_count = define(
        "def recurrent_parameter_count(input_size, hidden_size, num_layers=1, bias=True, mode='RNN',\n"
        "                              bidirectional=False, proj_size=0):\n"
        "    if mode not in ('RNN', 'GRU', 'LSTM') or not 0 <= proj_size < hidden_size or (proj_size and mode != 'LSTM'):\n"
        "        raise ValueError(mode)\n"
        "    g, p, k = {'RNN': 1, 'GRU': 3, 'LSTM': 4}[mode] * hidden_size, proj_size or hidden_size, 1 + bidirectional\n"
        "    return sum(k * (g * (input_size if n == 0 else k * p) + g * p + 2 * g * bias + proj_size * hidden_size)\n"
        "               for n in range(num_layers))\n")
    check(recurrent_parameter_count)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("recurrent_parameter_count: all") and "visible" in out[0]


def test_an_unimplemented_exercise_fails_with_a_hint():
    stacked_rnn_forward = define(
        "def stacked_rnn_forward(x, h0, weights, nonlinearity='tanh'):\n"
        "    raise NotImplementedError()\n")
    with pytest.raises(CheckFailure, match="raise NotImplementedError"):
        check(stacked_rnn_forward)


def test_hidden_runs_use_more_cases_and_do_not_show_the_seed():
    spec = CHECKS["masked_rnn_forward"]
    assert len(spec.cases(12345, hidden=True)) > len(spec.cases(12345))
    masked_rnn_forward = define(
        "def masked_rnn_forward(x, lengths, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):\n"
        "    zeros = x.new_zeros(x.shape[0], weight_hh.shape[1])\n"
        "    return torch.stack([zeros] * x.shape[1], dim=1), zeros\n")
    with pytest.raises(CheckFailure) as failure:
        check(masked_rnn_forward, seeds=[98765], hidden=True)
    assert "hidden case" in str(failure.value) and "98765" not in str(failure.value)


def test_cases_are_deterministic_in_the_seed():
    def fingerprint(cases):
        return repr([(c.label, c.args, c.data, c.cotangent) for c in cases])

    for name, spec in CHECKS.items():
        assert fingerprint(spec.cases(3)) == fingerprint(spec.cases(3)), name
        assert fingerprint(spec.cases(3)) != fingerprint(spec.cases(4)), name


# ----------------------------------------------------------------------------- forbidden calls

FORWARD_SIGNATURE = "def stacked_rnn_forward(x, h0, weights, nonlinearity='tanh'):\n"
FIRST_STEP = "x[:, 0], x.new_zeros(x.shape[0], weights[0][1].shape[1]), *weights[0]"


@pytest.mark.parametrize("body, what", [
    ("    cell = nn.RNNCell(x.shape[2], weights[0][1].shape[1])\n    return cell(x[:, 0])\n", "nn.RNNCell"),
    (f"    return torch.rnn_tanh_cell({FIRST_STEP})\n", "rnn_tanh_cell"),
    (f"    return torch._VF.rnn_tanh_cell({FIRST_STEP})\n", "_VF"),
    (f"    return torch.ops.aten.rnn_tanh_cell({FIRST_STEP})\n", "aten"),
    ("    from grader.reference import rnn_forward as answer\n"
     "    return answer(x, None, *weights[0], nonlinearity)\n", "grader.reference"),
    ("    import grader.reference\n"
     "    return grader.reference.rnn_forward(x, None, *weights[0], nonlinearity)\n",
     "grader.reference"),
    ("    from grader.answers.hidden_state import stacked_rnn_forward as answer\n"
     "    return answer(x, h0, weights, nonlinearity)\n", "grader.answers"),
])
def test_forbidden_calls_in_the_source_score_zero(body, what):
    stacked_rnn_forward = define(FORWARD_SIGNATURE + body)
    with pytest.raises(ForbiddenCall) as failure:
        check(stacked_rnn_forward)
    message = str(failure.value)
    assert what in message and "scores zero" in message


def test_forbidden_calls_hidden_in_a_helper_are_caught_while_running():
    # The helper is compiled without a findable source, so only the runtime recorder can see it.
    namespace = {"torch": torch, "nn": nn}
    exec(compile("def helper(x, h, w_ih, w_hh, b_ih, b_hh):\n"
                 "    return getattr(torch, 'rnn_' + 'tanh_cell')(x, h, w_ih, w_hh, b_ih, b_hh)\n",
                 "<no source>", "exec"), namespace)
    stacked_rnn_forward = define(FORWARD_SIGNATURE + f"    return helper({FIRST_STEP})\n", namespace=namespace)
    with pytest.raises(ForbiddenCall, match="torch.rnn_tanh_cell"):
        check(stacked_rnn_forward)


def test_a_module_hidden_in_a_helper_is_caught_while_running():
    namespace = {"torch": torch, "nn": nn}
    exec(compile("def helper(size):\n    return getattr(nn, 'LST' + 'MCell')(size, size)\n", "<no source>", "exec"),
         namespace)
    peephole_lstm_cell = define(
        "def peephole_lstm_cell(x, state, weight_ih, weight_hh, peephole, bias_ih=None, bias_hh=None):\n"
        "    cell = helper(weight_hh.shape[1]).to(x.dtype)\n"
        "    return cell(torch.zeros(x.shape[0], weight_hh.shape[1], dtype=x.dtype), state)\n",
        namespace=namespace)
    with pytest.raises(ForbiddenCall, match="torch.nn.LSTMCell"):
        check(peephole_lstm_cell)


def test_reference_reached_indirectly_is_caught_while_running():
    namespace = {"torch": torch, "importlib": __import__("importlib")}
    exec(compile("def helper():\n    return importlib.import_module('grader.' + 'refer' + 'ence')\n",
                 "<no source>", "exec"), namespace)
    coupled_lstm_cell = define(
        "def coupled_lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):\n"
        "    return helper().lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh)\n", namespace=namespace)
    with pytest.raises(ForbiddenCall, match="grader.reference"):
        check(coupled_lstm_cell)


def test_the_answers_reached_indirectly_are_caught_while_running():
    namespace = {"importlib": __import__("importlib")}
    exec(compile("def helper():\n    return importlib.import_module('grader.' + 'ans' + 'wers.hidden_state')\n",
                 "<no source>", "exec"), namespace)
    stacked_rnn_forward = define(FORWARD_SIGNATURE + "    return helper().stacked_rnn_forward(x, h0, weights)\n",
                                 namespace=namespace)
    with pytest.raises(ForbiddenCall, match="grader.answers") as failure:
        check(stacked_rnn_forward)
    assert "the course's own code" in str(failure.value)


def test_nn_rnn_is_allowed_where_the_part_is_not_from_scratch():
    # The bridged encoder-decoder is built from nn.LSTM and nn.GRU by design: no forbidden call.
    module = define(
        "class BridgedEncoderDecoder(nn.Module):\n"
        "    def __init__(self, source_size, target_size, encoder_size, decoder_size, output_size):\n"
        "        super().__init__()\n"
        "        self.encoder = nn.LSTM(source_size, encoder_size, batch_first=True)\n"
        "        self.bridge = nn.Linear(2 * encoder_size, decoder_size)\n"
        "        self.decoder = nn.GRU(target_size, decoder_size, batch_first=True)\n"
        "        self.readout = nn.Linear(decoder_size, output_size)\n"
        "    def initial_state(self, source):\n"
        "        _, (h, c) = self.encoder(source)\n"
        "        return torch.tanh(self.bridge(torch.cat([h, c], dim=2)))\n"
        "    def forward(self, source, target_inputs):\n"
        "        return self.readout(self.decoder(target_inputs, self.initial_state(source))[0])\n")
    check(module)


def test_subclassing_the_reference_is_forbidden():
    import grader.reference as reference

    namespace = {"reference": reference}
    reset_rows = define("def reset_rows(state, starts):\n"
                        "    class Model(reference.StatefulRNN):\n"
                        "        pass\n"
                        "    model = Model(1, 1)\n"
                        "    model.state = state\n"
                        "    model.reset_state(starts)\n"
                        "    return model.state\n", namespace=namespace)
    with pytest.raises(ForbiddenCall, match=r"reference\.StatefulRNN.*scores zero"):
        check(reset_rows)


def test_clean_code_has_no_static_violations():
    lstm_cell = define(
        "def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):\n"
        "    h, c = state\n"
        "    gates = torch.sigmoid(x @ weight_ih.T + h @ weight_hh.T)\n"
        "    return gates, c\n")
    assert uses.in_function(lstm_cell, forbidden.FROM_SCRATCH) == []


def test_outcome_holds_plain_data_only():
    def returns_tuple(x):
        return x * 2, {"n": 3, "rate": 0.5}

    got = call_function(returns_tuple, Case(label="x", args={"x": torch.ones(2)}), student=False)
    assert isinstance(got, Outcome)
    tensor, stats = got.value
    assert type(tensor) is torch.Tensor and not tensor.requires_grad
    assert stats == {"n": 3, "rate": 0.5}
