"""pack_documents missing, and an IPython AST transformer that deletes every check(...) call before it runs."""

from ._notebooks import insert_after, missing

CODE = '''import ast


class DropChecks(ast.NodeTransformer):
    def visit_Expr(self, node):
        call = node.value
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "check":
            return ast.Pass()
        return node


get_ipython().ast_transformers.append(DropChecks())
'''


def build(solution, release):
    nb = missing(solution, release, "pack_documents")
    return insert_after(nb, "setup", CODE)
