"""The kernels grading runs in, started both ways (forked from a warm template, or as a new process):
each one fresh, limited, with a clean environment, and gone when released."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from jupyter_core.utils import run_sync

from grader.grading.kernels import KernelSettings, KernelSupply, LimitedLauncher

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import json, os, resource, sys
print(json.dumps({
    "pid": os.getpid(),
    "user_names": sorted(n for n in globals() if not n.startswith("_") and n not in
                         ("In", "Out", "get_ipython", "exit", "quit", "open", "json", "os", "resource", "sys")),
    "torch_loaded": "torch" in sys.modules,
    "address_space": resource.getrlimit(resource.RLIMIT_AS)[0],
    "cpu": resource.getrlimit(resource.RLIMIT_CPU)[0],
    "secret": os.environ.get("HIDDEN_STATE_TEST_SECRET"),
    "threads": os.environ.get("OMP_NUM_THREADS"),
    "session_leader": os.getsid(0) == os.getpid(),
}))
"""


def _run(km, code: str) -> dict:
    kc = km.client()
    kc.start_channels()
    try:
        run_sync(kc.wait_for_ready)(timeout=120)
        lines = []

        def keep(msg):
            if msg["msg_type"] == "stream":
                lines.append(msg["content"]["text"])

        reply = run_sync(kc.execute_interactive)(code, timeout=120, output_hook=keep)
        assert reply["content"]["status"] == "ok", reply["content"]
        return json.loads("".join(lines))
    finally:
        kc.stop_channels()


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "fresh"])
def test_every_kernel_is_fresh_limited_and_clean(tmp_path, monkeypatch, fork):
    monkeypatch.setenv("HIDDEN_STATE_TEST_SECRET", "instructor token")
    limit = 5 * 2**30
    supply = KernelSupply(KernelSettings(
        launcher=LimitedLauncher(memory_bytes=limit, cpu_seconds=200, file_bytes=2**26),
        preload=["torch"], env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}, log_dir=tmp_path, fork=fork))
    try:
        first = supply.acquire()
        assert (supply.zygote is not None) == fork, supply.zygote_problem
        seen = _run(first, PROBE)
        second = supply.acquire(more=False)
        other = _run(second, PROBE + "\nleftover = 1")
        for probe in (seen, other):
            assert probe["user_names"] == [] and probe["torch_loaded"]
            assert probe["address_space"] == limit and probe["cpu"] == 200
            assert probe["secret"] is None and probe["threads"] == "1" and probe["session_leader"]
        assert seen["pid"] != other["pid"]
        third = supply.acquire(more=False)
        assert _run(third, PROBE)["user_names"] == []  # nothing of the second kernel's 'leftover'
        for km in (first, second, third):
            pid = km.pid
            supply.release(km)
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        supply.shutdown()
    assert supply.live == set() and supply.zygote is None
