"""By-hand parts may not ask autograd for their gradients: found in the code and while it runs."""

import pytest
import torch

from grader.checks import forbidden, uses

from exercise_helpers import define

GRAD = '''
def by_grad(x):
    x = x.detach().requires_grad_()
    (g,) = torch.autograd.grad(torch.tanh(x).sum(), x)
    return g
'''
BACKWARD = '''
def by_backward(x):
    x = x.detach().requires_grad_()
    torch.tanh(x).sum().backward()
    return x.grad
'''
FUNC = '''
def by_func(x):
    return torch.func.grad(lambda y: torch.tanh(y).sum())(x)
'''
ENGINE = '''
def by_engine(x):
    x = x.detach().requires_grad_()
    y = torch.tanh(x).sum()
    engine = torch.autograd.Variable._execution_engine
    return engine.run_backward((y,), (torch.ones_like(y),), False, False, (x,), True, False)[0]
'''
BY_HAND = '''
def by_hand(x):
    return 1 - torch.tanh(x) ** 2
'''


def run_watched(fn):
    with forbidden.watching(forbidden.BY_HAND) as seen:
        result = fn(torch.randn(3))
    return result, list(seen)


@pytest.mark.parametrize("code", [GRAD, BACKWARD, FUNC, ENGINE])
def test_every_way_of_asking_autograd_is_seen_while_it_runs(code):
    result, seen = run_watched(define(code))
    assert result.shape == (3,) and seen, code


def test_the_chain_rule_written_out_is_allowed():
    fn = define(BY_HAND)
    assert run_watched(fn)[1] == []
    assert uses.in_function(fn, forbidden.BY_HAND) == []


def test_named_uses_are_found_in_the_code():
    assert uses.in_function(define(GRAD), forbidden.BY_HAND) == ["torch.autograd.grad"]
    assert uses.in_function(define(FUNC), forbidden.BY_HAND) == ["torch.func.grad"]
    assert "torch's autograd engine" in uses.in_function(define(ENGINE), forbidden.BY_HAND)


def test_autograd_is_allowed_where_the_rules_do_not_forbid_it():
    with forbidden.watching(forbidden.FROM_SCRATCH) as seen:
        define(BACKWARD)(torch.randn(3))
    assert list(seen) == []
    assert uses.in_function(define(GRAD), forbidden.FROM_SCRATCH) == []


def test_the_message_says_what_by_hand_means():
    text = forbidden.message("rnn_bptt", ["torch.autograd.grad"], forbidden.BY_HAND)
    assert "by hand" in text and "scores zero" in text
