"""The exact messages of the value and tensor comparison (pinned on the code before it was split).

Each case is ``name: (what, got, expected[, tolerance])`` and the message ``compare_values`` gives it
(``None`` where the values agree): nested tuples, lists and dicts, Python scalars, NaN and infinity,
dtype and shape mismatches, and the hints for the usual wrong types.
"""

import math

import numpy as np
import pytest
import torch
from torch import nn

from grader.checks.core import Foreign, snapshot
from grader.checks.compare import compare_values

nan = float("nan")

CASES = {
 "tuple_len": ("out", (torch.zeros(2),), (torch.zeros(2), torch.zeros(2))),
 "tuple_vs_tensor": ("out", torch.zeros(2), (torch.zeros(2), 1)),
 "list_accepts_tuple": ("out", (1, 2.0), [1, 2.0]),
 "nested_tuple_index": ("out", (torch.zeros(2), (1, torch.tensor([1.0, 2.0]))), (torch.zeros(2), (1, torch.tensor([1.0, 3.0])))),
 "nested_first_problem": ("out", (2, 3), (1, 4)),
 "dict_keys": ("stats", {"a": 1.0}, {"a": 1.0, "b": 2.0}),
 "dict_not_dict": ("stats", [1.0], {"a": 1.0}),
 "dict_value": ("stats", {"a": 1.0, "b": {"c": 3}}, {"a": 1.0, "b": {"c": 4}}),
 "none_ok": ("x", None, None),
 "none_bad": ("x", 0, None),
 "bool_ok": ("flag", True, True),
 "bool_int": ("flag", 1, True),
 "bool_bad": ("flag", False, True),
 "int_bool": ("n", True, 1),
 "int_float": ("n", 3.0, 3),
 "int_tensor": ("n", torch.tensor(3), 3),
 "int_str": ("n", "3", 3),
 "int_wrong": ("n", 4, 3),
 "float_nan_nan": ("r", nan, nan),
 "float_nan_got": ("r", nan, 1.0),
 "float_nan_exp": ("r", 1.0, nan),
 "float_close": ("r", 1.0 + 1e-6, 1.0),
 "float_far": ("r", 1.1, 1.0),
 "float_int": ("r", 1, 1.0),
 "float_tensor": ("r", torch.tensor(1.0), 1.0),
 "float_none": ("r", None, 1.0),
 "float_tol": ("r", 1.05, 1.0, (0.1, 0.0)),
 "str_ok": ("s", "a", "a"),
 "str_bad": ("s", "b", "a"),
 "foreign_vs_tuple": ("out", Foreign("numpy.ndarray"), (1,)),
 "tensor_nan_equal": ("t", torch.tensor([nan, 1.0]), torch.tensor([nan, 1.0])),
 "tensor_nan_expected_finite_got": ("t", torch.tensor([1.0, 1.0]), torch.tensor([nan, 1.0])),
 "tensor_inf": ("t", torch.tensor([1.0, math.inf]), torch.tensor([1.0, 2.0])),
 "tensor_nan_got": ("t", torch.tensor([[1.0, 2.0], [nan, 4.0]]), torch.tensor([[1.0, 2.0], [3.0, 4.0]])),
 "tensor_inf_both": ("t", torch.tensor([math.inf]), torch.tensor([math.inf])),
 "tensor_inf_sign": ("t", torch.tensor([-math.inf]), torch.tensor([math.inf])),
 "tensor_shape_swapped": ("t", torch.zeros(3, 2), torch.zeros(2, 3)),
 "tensor_shape_1d": ("t", torch.zeros(3), torch.zeros(2)),
 "tensor_shape_swapped_1dim": ("t", torch.zeros(1, 1, 3), torch.zeros(3, 1, 1)),
 "tensor_dtype": ("t", torch.zeros(2, dtype=torch.float64), torch.zeros(2)),
 "tensor_dtype_int": ("t", torch.zeros(2, dtype=torch.int64), torch.zeros(2)),
 "tensor_dtype_bf16": ("t", torch.zeros(2), torch.zeros(2, dtype=torch.bfloat16)),
 "tensor_int_values": ("t", torch.tensor([1, 2, 5]), torch.tensor([1, 3, 4])),
 "tensor_int_ok": ("t", torch.tensor([1, 2]), torch.tensor([1, 2])),
 "tensor_bool": ("t", torch.tensor([True, False]), torch.tensor([True, True])),
 "tensor_0dim": ("t", torch.tensor(1.5), torch.tensor(2.5)),
 "tensor_0dim_int": ("t", torch.tensor(1), torch.tensor(2)),
 "tensor_float_item": ("t", 1.5, torch.tensor(2.5)),
 "tensor_int_item": ("t", 1, torch.tensor(2.5)),
 "tensor_float_vs_1d": ("t", 1.5, torch.tensor([2.5])),
 "tensor_numpy": ("t", snapshot(np.zeros(2)), torch.zeros(2)),
 "tensor_param": ("t", snapshot(nn.Parameter(torch.zeros(2))), torch.zeros(2)),
 "tensor_none": ("t", None, torch.zeros(2)),
 "tensor_list": ("t", [1.0, 2.0], torch.zeros(2)),
 "tensor_many": ("t", torch.arange(6.0).reshape(2, 3), torch.zeros(2, 3)),
 "tensor_tolerance": ("t", torch.tensor([1.05]), torch.tensor([1.0]), (0.1, 0.0)),
 "tensor_f64_tol": ("t", torch.tensor([1.0 + 1e-6], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)),
 "tensor_nan_largest": ("t", torch.tensor([nan, 5.0]), torch.tensor([1.0, nan])),
 "tensor_empty": ("t", torch.zeros(0, 3), torch.zeros(0, 3)),
}

EXPECTED = {
    'tuple_len': 'out: expected a tuple of 2, got a tuple of 1.',
    'tuple_vs_tensor': 'out: expected a tuple of 2, got a float32 tensor of shape (2,).',
    'list_accepts_tuple': None,
    'nested_tuple_index': 'out[1][1]: first mismatch at index [1]: expected 3, got 2 (1 of 2 entries differ; largest difference 1).',
    'nested_first_problem': 'out[0]: expected 1, got 2.',
    'dict_keys': "stats: expected a dict with keys ['a', 'b'], got a dict with keys ['a'].",
    'dict_not_dict': "stats: expected a dict with keys ['a'], got a list of 1.",
    'dict_value': "stats['b']['c']: expected 4, got 3.",
    'none_ok': None,
    'none_bad': 'x: expected None, got the int 0.',
    'bool_ok': None,
    'bool_int': 'flag: expected True, got the int 1.',
    'bool_bad': 'flag: expected True, got the bool False.',
    'int_bool': 'n: expected a Python int (1), got the bool True.',
    'int_float': 'n: expected a Python int (3), got the float 3. Convert with int(...).',
    'int_tensor': 'n: expected a Python int (3), got a int64 tensor of shape (). Convert with int(...).',
    'int_str': "n: expected a Python int (3), got the str '3'.",
    'int_wrong': 'n: expected 3, got 4.',
    'float_nan_nan': None,
    'float_nan_got': 'r: expected 1, got nan.',
    'float_nan_exp': 'r: expected nan, got 1.',
    'float_close': None,
    'float_far': 'r: expected 1, got 1.1.',
    'float_int': 'r: expected a Python float (1), got the int 1. Convert with .item() or float(...).',
    'float_tensor': 'r: expected a Python float (1), got a float32 tensor of shape (). Convert with .item() or float(...).',
    'float_none': 'r: expected a Python float (1), got None.',
    'float_tol': None,
    'str_ok': None,
    'str_bad': "s: expected 'a', got 'b'.",
    'foreign_vs_tuple': 'out: expected a tuple of 1, got a numpy.ndarray.',
    'tensor_nan_equal': None,
    'tensor_nan_expected_finite_got': 't: first mismatch at index [0]: expected nan, got 1 (1 of 2 entries differ; largest difference inf).',
    'tensor_inf': 't: entry [1] is inf (not finite), expected 2.',
    'tensor_nan_got': 't: entry [1, 0] is nan (not finite), expected 3.',
    'tensor_inf_both': None,
    'tensor_inf_sign': 't: first mismatch at index [0]: expected inf, got -inf (1 of 1 entries differ; largest difference 1.8e+308).',
    'tensor_shape_swapped': 't: expected shape (2, 3), got (3, 2). Same sizes in another order: are two dimensions swapped (e.g. time-major vs batch-first)?',
    'tensor_shape_1d': 't: expected shape (2,), got (3,).',
    'tensor_shape_swapped_1dim': 't: expected shape (3, 1, 1), got (1, 1, 3). Same sizes in another order: are two dimensions swapped (e.g. time-major vs batch-first)?',
    'tensor_dtype': "t: expected dtype float32, got float64. Create new tensors with the inputs' dtype (e.g. x.new_zeros(...) or dtype=x.dtype).",
    'tensor_dtype_int': "t: expected dtype float32, got torch.int64. Create new tensors with the inputs' dtype (e.g. x.new_zeros(...) or dtype=x.dtype).",
    'tensor_dtype_bf16': "t: expected dtype torch.bfloat16, got float32. Create new tensors with the inputs' dtype (e.g. x.new_zeros(...) or dtype=x.dtype).",
    'tensor_int_values': 't: first mismatch at index [1]: expected 3, got 2 (2 of 3 entries differ; largest difference 1).',
    'tensor_int_ok': None,
    'tensor_bool': 't: first mismatch at index [1]: expected True, got False (1 of 2 entries differ; largest difference 1).',
    'tensor_0dim': 't: expected 2.5, got 1.5.',
    'tensor_0dim_int': 't: expected 2, got 1.',
    'tensor_float_item': 't: expected a float32 tensor of shape (), got the float 1.5. Return the 0-dim tensor itself, not .item().',
    'tensor_int_item': 't: expected a float32 tensor of shape (), got the int 1. Return the 0-dim tensor itself, not .item().',
    'tensor_float_vs_1d': 't: expected a float32 tensor of shape (1,), got the float 1.5.',
    'tensor_numpy': 't: expected a float32 tensor of shape (2,), got a numpy.ndarray. Stay in torch (no .numpy()), so that autograd can follow.',
    'tensor_param': 't: expected a float32 tensor of shape (2,), got a torch.nn.parameter.Parameter. Return a plain tensor, not an nn.Parameter.',
    'tensor_none': 't: expected a float32 tensor of shape (2,), got None.',
    'tensor_list': 't: expected a float32 tensor of shape (2,), got a list of 2.',
    'tensor_many': 't: first mismatch at index [0, 1]: expected 0, got 1 (5 of 6 entries differ; largest difference 5).',
    'tensor_tolerance': None,
    'tensor_f64_tol': 't: first mismatch at index [0]: expected 1, got 1 (1 of 1 entries differ; largest difference 1e-06).',
    'tensor_nan_largest': 't: entry [0] is nan (not finite), expected 1.',
    'tensor_empty': None,
}


def test_every_case_has_its_message():
    assert set(CASES) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(CASES))
def test_compare_values_message(name):
    what, got, expected, *tolerance = CASES[name]
    assert compare_values(what, got, expected, *tolerance) == EXPECTED[name]
