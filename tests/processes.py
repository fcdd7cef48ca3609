"""Finding the processes of a grading run started by a test (for the kill and resume tests)."""

from __future__ import annotations

import os
from pathlib import Path


def run_processes(marker: str, out: Path) -> list[str]:
    """Processes of a grading run: with ``marker`` in their environment (the coordinator's children),
    working or named in ``out``, or descended from one of those (kernels and kernel templates, whose
    environment is scrubbed, some inside a sandbox)."""
    seen, parents, matched = {}, {}, set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            try:
                cwd = os.readlink(proc / "cwd")
            except OSError:
                cwd = ""
        except OSError:
            continue
        pid = int(proc.name)
        if stat[0] == "Z":
            continue
        seen[pid], parents[pid] = cmdline, int(stat[1])
        if marker.encode() in environ or str(out) in cmdline or cwd.startswith(str(out)):
            matched.add(pid)
    found = []
    for pid, cmdline in seen.items():
        ancestor = pid
        while ancestor in parents and ancestor not in matched:
            ancestor = parents[ancestor]
        if ancestor in matched:
            found.append(f"{pid}: {cmdline[:120]}")
    return found
