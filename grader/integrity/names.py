"""Names of a submission's code resolved through its imports, without running anything.

``from torch import nn`` makes ``nn.LSTMCell`` stand for ``torch.nn.LSTMCell``; ``import math as m``
makes ``m.sqrt`` stand for ``math.sqrt``. Used by the static reading (:mod:`.static`, :mod:`.tampering`)
and by the choice of the statements the verification keeps (:mod:`.inert`).
"""

from __future__ import annotations

import ast
import sys


def import_bindings(nodes) -> dict[str, str]:
    """name -> dotted path bound by the ``import`` statements among ``nodes`` (walked recursively)."""
    bindings: dict[str, str] = {}
    for top in nodes:
        for node in ast.walk(top):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        bindings[alias.asname] = alias.name
                    else:
                        first = alias.name.split(".")[0]
                        bindings[first] = first
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    if alias.name == "*":
                        bindings.setdefault("*", node.module)
                        bindings[f"*{node.module}"] = node.module
                    else:
                        bindings[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bindings


def resolve(parts: list[str], bindings: dict[str, str]) -> str | None:
    """The dotted path a name chain stands for, through the imports; ``None`` if not from an import."""
    head = parts[0]
    if head in bindings and not head.startswith("*"):
        return ".".join([bindings[head], *parts[1:]])
    for key, module in bindings.items():
        if key.startswith("*") and key != "*":
            loaded = sys.modules.get(module)
            if loaded is not None and head in getattr(loaded, "__dict__", {}):
                return ".".join([module, *parts])
    return None
