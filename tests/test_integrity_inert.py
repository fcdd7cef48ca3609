"""grader.integrity.inert: which top-level statements of an answer cell are kept, and why the others are not.

Pinned statement by statement (on the code before ``_expression_problem`` was split): every kind of
expression, the dunder names and attributes that are refused, lambdas inside calls, and the calls
that are and are not pure.
"""

import ast

import pytest

from grader.integrity.inert import Scope, statement_problem

SCOPE = Scope(imports={"torch": "torch", "math": "math", "partial": "functools.partial", "nn": "torch.nn",
                       "defaultdict": "collections.defaultdict"},
              rebound={"my_fn", "X"}, imported={"torch", "math", "partial", "nn", "defaultdict"})

NOT_PURE = "which is not one of the pure functions the grader runs at the top level"

CASES = [
    ('X = 1', None),
    ('X = None', None),
    ('X = y', None),
    ('X = __builtins__', 'it uses __builtins__'),
    ('X = torch.tanh', None),
    ('X = torch.__dict__', 'it reads .__dict__'),
    ('X = torch.nn.__class__.x', 'it reads .__class__'),
    ('X = a[1]', None),
    ('X = a[1:2:3]', None),
    ('X = a[__x__]', 'it uses __x__'),
    ('X = a[:f()]', 'it calls f, ' + NOT_PURE),
    ('X = (1, y, [z], {w})', None),
    ('X = (*a, *__b)', 'it uses __b'),
    ("X = {'a': torch.tanh, **extra}", None),
    ('X = {**__d}', 'it uses __d'),
    ('X = 1 + 2 * y', None),
    ('X = -y', None),
    ('X = not __y', 'it uses __y'),
    ('X = a and b or c', None),
    ('X = a < b <= __c', 'it uses __c'),
    ('X = a if b else c', None),
    ('X = a if __b else c', 'it uses __b'),
    ("X = f'{a!r:>{w}}'", None),
    ("X = f'{__a}'", 'it uses __a'),
    ("X = f'{a:{__w}}'", 'it uses __w'),
    ('X = lambda a, b=1, *, c=2: a', None),
    ('X = lambda a=__d: a', 'it uses __d'),
    ('X = lambda: print(1)', None),
    ('X = [i for i in range(3) if i]', None),
    ('X = {k: v for k, v in d.items()}', 'it calls d.items, ' + NOT_PURE),
    ('X = {i for i in __s}', 'it uses __s'),
    ('X = (i for i in range(3) if __c)', 'it uses __c'),
    ('X = [__e for i in a]', 'it uses __e'),
    ('X = {__k: 1 for k in a}', 'it uses __k'),
    ('X = math.sqrt(2)', None),
    ('X = partial(my_fn, act=torch.tanh)', None),
    ('X = partial(my_fn, act=lambda x: x)', None),
    ('X = torch.zeros(2, key=lambda x: x)', 'it passes a lambda to a call (the call could run it)'),
    ('X = sorted(a, key=len)', 'it calls sorted with key= (which calls a function)'),
    ('X = min(a)', None),
    ('X = print(1)', 'it calls print, ' + NOT_PURE),
    ('X = my_fn(1)', 'it calls my_fn, a function of the answer cells'),
    ('X = (lambda: 1)()', 'it calls the result of an expression'),
    ('X = f()()', 'it calls the result of an expression'),
    ('X = defaultdict(lambda: 0)', None),
    ('X = torch.tensor([__a])', 'it uses __a'),
    ('X = len(lambda: 0)', 'it passes a lambda to a call (the call could run it)'),
    ('X = nn.Tanh()', None),
    ("X = open('f')", 'it calls open, ' + NOT_PURE),
    ('X = (y := 1)', 'it is not a plain expression (NamedExpr)'),
    ('X = await y', 'it is not a plain expression (Await)'),
    ('X = (yield)', 'it is not a plain expression (Yield)'),
    ('X = a.b.c(1)', 'it calls a.b.c, ' + NOT_PURE),
    ('X = ...', None),
    ("X = b'x'", None),
    ('X = sum(x for x in a)', None),
    ('X = [*a]', None),
    ('X = a[b, c]', None),
    ('X: int = 1', None),
    ('X: __t = 1', 'it uses __t'),
    ('X: list[int]', 'an annotation without a value binds nothing'),
    ('X += 1', None),
    ('X += f()', 'it calls f, ' + NOT_PURE),
    ('Y, [Z, *W] = a', None),
    ('a.b = 1', 'it assigns to an attribute or an item, not to a plain name'),
    ('a[0] = 1', 'it assigns to an attribute or an item, not to a plain name'),
    ('torch = 1', 'it rebinds torch, which the notebook imported'),
    ('check = 1', 'it rebinds check, which the notebook imported'),
    ('__all__ = []', 'it rebinds __all__, which the notebook imported'),
    ('Y = Z = 1', None),
    ('for i in a: pass', 'not a definition, an import or an assignment to a name'),
    ('print(1)', 'not a definition, an import or an assignment to a name'),
    ('import os', None),
    ('def f(): pass', None),
    ('class C: pass', None),
    ('X = torch.tensor([lambda: 0])', 'it passes a lambda to a call (the call could run it)'),
    ('X = partial(f, [lambda: 0])', None),
    ('X = lambda a=(lambda: 0): a', None),
    ('X = torch.cat([torch.zeros(2), a[lambda: 0]])', 'it passes a lambda to a call (the call could run it)'),
    ('X = {1: (lambda: 0)}', None),
    ('X = math.floor(x for x in [lambda: 0])', 'it passes a lambda to a call (the call could run it)'),
]


@pytest.mark.parametrize("source, problem", CASES)
def test_statement_is_kept_or_dropped_with_its_reason(source, problem):
    assert statement_problem(ast.parse(source).body[0], SCOPE) == problem
