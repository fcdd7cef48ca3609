"""JupyterLab driven in Chromium: a chapter notebook run, its demo recomputed by the Python kernel.

:func:`demo_round_trip` starts JupyterLab with a given Python on 127.0.0.1 with a random token, opens
a notebook in headless Chromium (every request to another host blocked), waits until the notebook's
kernel is connected and idle, runs all cells, moves a control of the demo, and checks that the
kernel answered: the widget shows the frame Python recomputed ("Live: recomputed in Python"), with
grader.reference's numbers. The server is shut down in a ``finally``.

Every wait polls a real condition (what JupyterLab shows, and the server's own list of
sessions) and fails early, with the reason, when JupyterLab shows a dialog, a cell raises,
the kernel dies or the server exits. Screenshots go to test-artifacts/demos/; on a failure,
so do a screenshot of the page, the server's log and the browser's console.
"""

import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from browser import ARTIFACTS, block_other_hosts
from grader.demos._widget import format_readout

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "book" / "chapters"
SHOTS = ARTIFACTS / "demos"
SERVER_TIMEOUT_S = 90   # jupyter lab answers /api/status (about 5 s)
KERNEL_TIMEOUT_S = 120  # the notebook is open and its kernel connected and idle (about 10 s)
START_TIMEOUT_S = 30    # after Run All Cells, a cell shows [*] or its number
RUN_TIMEOUT_S = 300     # the demo is drawn and connected to the kernel (about 15 s)
FINISHED_GRACE_S = 30   # the notebook ran to the end: the demo is drawn within this, or never
ANSWER_TIMEOUT_S = 30   # a control change is answered by the kernel
POLL_MS = 250


class LabFailure(AssertionError):
    """JupyterLab is in a state the test cannot go on from; the message says which."""


def chapter_notebook(chapter, folder):
    from myst_nb.core.read import read_myst_markdown_notebook

    source = CHAPTERS / f"{chapter}.md"
    notebook = read_myst_markdown_notebook(source.read_text(encoding="utf-8"), path=source)
    path = folder / f"{chapter}.ipynb"
    nbformat.write(notebook, path)
    return path


def api(base, token, path):
    with urllib.request.urlopen(f"{base}{path}?token={token}", timeout=5) as response:
        return json.load(response)


def wait_for_server(process, runtime, token, timeout=SERVER_TIMEOUT_S):
    """The base URL of the started server, once it answers (its port is read from jpserver-<pid>.json)."""
    deadline = time.monotonic() + timeout
    info = runtime / f"jpserver-{process.pid}.json"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LabFailure(f"jupyter lab exited with code {process.returncode} before it answered")
        try:
            base = f"http://127.0.0.1:{json.loads(info.read_text())['port']}"
            api(base, token, "/api/status")
            return base
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            time.sleep(POLL_MS / 1000)
    raise LabFailure(f"jupyter lab did not answer within {timeout} s")


# What JupyterLab shows, read in one go. Run All Cells must wait for the notebook's kernel:
# the execution indicator reads "idle" from the moment the notebook is drawn, while the toolbar
# still says "No Kernel". Until JupyterLab has saved the notebook's first checkpoint it does not
# even know the notebook's kernelspec, and a cell run then asks "Select Kernel" (a dialog over
# the page; the cells stay [ ]), even though the notebook's own kernel starts a moment later.
# So the test waits for the kernel's name in the toolbar, an idle kernel, and the server's
# session of the notebook with that kernel, idle.
LAB_STATE = """(demo) => {
  const root = document.querySelector(`.hs-demo[data-demo="${demo}"]`);
  const outputs = [...document.querySelectorAll('.jp-OutputArea-output')].map(o => o.textContent);
  return {
    dialogs: [...document.querySelectorAll('.jp-Dialog')].map(d => d.innerText.trim().slice(0, 500)),
    notebook: document.querySelector('.jp-NotebookPanel .jp-Notebook') !== null,
    kernel: document.querySelector('.jp-NotebookPanel .jp-KernelName')?.textContent.trim() ?? null,
    status: document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator')?.dataset.status ?? null,
    prompts: [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')]
      .map(p => p.textContent.trim()),
    tracebacks: outputs.filter(t => t.includes('Traceback (most recent call last)')).map(t => t.slice(-1500)),
    widgetErrors: outputs.filter(t => t.includes('Error displaying widget')).map(t => t.slice(0, 500)),
    demo: root === null ? null : {live: root.dataset.live === 'true', key: root.dataset.key ?? null,
                                  source: root.dataset.source ?? null},
  };
}"""


def summary(state):
    """The state, short enough for an assertion message."""
    prompts = state.get("prompts") or []
    counts = {kind: sum(1 for p in prompts if test(p)) for kind, test in
              {"ran": lambda p: any(c.isdigit() for c in p), "running": lambda p: "*" in p,
               "not run": lambda p: not any(c.isdigit() or c == "*" for c in p)}.items()}
    short = {k: v for k, v in state.items() if k not in ("prompts", "tracebacks", "widgetErrors")}
    return f"{short}, code cells: {len(prompts)} {counts}"


class Lab:
    """The running server and the page showing the notebook, polled together."""

    def __init__(self, server, base, token, page, notebook, demo):
        self.server, self.base, self.token, self.page = server, base, token, page
        self.notebook, self.demo = notebook, demo

    def read(self):
        if self.server.poll() is not None:
            raise LabFailure(f"the JupyterLab server exited with code {self.server.returncode}")
        state = self.page.evaluate(LAB_STATE, self.demo)
        if state["dialogs"]:
            raise LabFailure(f"JupyterLab shows a dialog: {state['dialogs']!r}")
        if state["tracebacks"]:
            raise LabFailure(f"a cell raised:\n{state['tracebacks'][0]}")
        if state["widgetErrors"]:
            raise LabFailure(f"the demo's widget failed: {state['widgetErrors'][0]}")
        if state["status"] == "dead":
            raise LabFailure("the kernel died")
        return state

    def session(self):
        """The server's session of the notebook, as (kernel name, execution state), or None."""
        sessions = api(self.base, self.token, "/api/sessions")
        for session in sessions:
            if session.get("path") == self.notebook.name and session.get("kernel"):
                return session["kernel"]["name"], session["kernel"]["execution_state"]
        return None

    def wait(self, what, timeout, done):
        """Poll until ``done(state)``; fail with ``what`` and the last state after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.read()
            if done(state):
                return state
            if time.monotonic() > deadline:
                raise LabFailure(f"timed out after {timeout} s waiting for {what}; last seen: {summary(state)}")
            self.page.wait_for_timeout(POLL_MS)


def kernel_ready(lab, kernel_name, display_name):
    """The notebook is open, its toolbar names its kernel, the kernel is idle, and the server agrees."""
    def ready(state):
        return (state["notebook"] and state["kernel"] == display_name and state["status"] == "idle"
                and lab.session() == (kernel_name, "idle"))
    lab.wait(f"the notebook's kernel {display_name!r} to be connected and idle", KERNEL_TIMEOUT_S, ready)


def run_all_cells(lab):
    lab.page.get_by_role("menuitem", name="Run", exact=True).click()
    lab.page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    lab.wait("Run All Cells to start a cell", START_TIMEOUT_S,
             lambda state: any(any(c.isdigit() or c == "*" for c in p) for p in state["prompts"]))


def demo_is_live(lab):
    """Wait for the demo to be drawn and connected; fail early if the notebook finished without it."""
    finished_at = None

    def live(state):
        nonlocal finished_at
        if state["demo"] and state["demo"]["live"]:
            return True
        prompts = state["prompts"]
        finished = (state["status"] == "idle" and prompts
                    and all(any(c.isdigit() for c in p) for p in prompts))
        finished_at = (finished_at or time.monotonic()) if finished else None
        if finished_at and time.monotonic() - finished_at > FINISHED_GRACE_S:
            raise LabFailure(f"every cell ran, but the demo was not {'connected' if state['demo'] else 'drawn'} "
                             f"{FINISHED_GRACE_S} s later; last seen: {summary(state)}")
        return False

    lab.wait(f"the demo {lab.demo!r} to be drawn and connected to the kernel", RUN_TIMEOUT_S, live)


def stop(process):
    """Stop the server the way a terminal's kill does: SIGTERM (it shuts its kernels down), then kill."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def save_failure(page, log_path, console, name):
    """Screenshot, server log and browser console of a failed run, in test-artifacts/demos/."""
    saved = []
    try:
        page.screenshot(path=str(SHOTS / f"{name}__failure.png"))
        saved.append(SHOTS / f"{name}__failure.png")
    except Exception as error:  # the page may be gone; the log still helps
        saved.append(f"(no screenshot: {error})")
    shutil.copyfile(log_path, SHOTS / f"{name}__server.log")
    (SHOTS / f"{name}__console.log").write_text("\n".join(console) + "\n", encoding="utf-8")
    saved += [SHOTS / f"{name}__server.log", SHOTS / f"{name}__console.log"]
    return saved




def demo_round_trip(browser, tmp_path, python, notebook, demo, name, env=None):
    """Open ``notebook`` (in its folder) in a JupyterLab run by ``python``, run it, and move ``demo``'s first control.

    ``env``: environment variables for the server and its kernels, on top of this process's (``None``
    removes one).
    """
    kernel_name = nbformat.read(notebook, as_version=4).metadata["kernelspec"]["name"]
    token = secrets.token_hex(16)
    work = notebook.parent
    env = {
        **os.environ,
        **(env or {}),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "MPLBACKEND": "Agg",
    }
    env = {key: value for key, value in env.items() if value is not None}
    # No "Would you like to get notified about Jupyter news?" over the notebook, and no request for it.
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    log_path = tmp_path / "jupyter.log"
    SHOTS.mkdir(parents=True, exist_ok=True)
    for stale in SHOTS.glob(f"{name}__*"):  # no artefact of an earlier run is taken for this one's
        stale.unlink()
    errors, blocked, console = [], [], []
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [str(python), "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
             "--port=0", f"--IdentityProvider.token={token}", "--ServerApp.allow_root=True",
             f"--ServerApp.root_dir={work}", "--LabApp.news_url=None",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        try:
            base = wait_for_server(server, tmp_path / "runtime", token)
            specs = api(base, token, "/api/kernelspecs")["kernelspecs"]
            assert kernel_name in specs, (f"the notebook asks for kernel {kernel_name!r}; "
                                          f"the server has {sorted(specs)}")

            blocked = block_other_hosts(context, base)
            page.goto(f"{base}/lab/tree/{notebook.name}?token={token}")
            lab = Lab(server, base, token, page, notebook, demo.name)
            kernel_ready(lab, kernel_name, specs[kernel_name]["spec"]["display_name"])
            run_all_cells(lab)
            demo_is_live(lab)

            root = page.locator(f'.hs-demo[data-demo="{demo.name}"]')
            root.scroll_into_view_if_needed()
            root.screenshot(path=str(SHOTS / f"{name}__before.png"))

            control = demo.controls[0]
            indices = list(demo.default_indices())
            indices[0] += 1 if indices[0] + 1 < len(control.options) else -1
            key = demo.key(indices)
            box = root.locator(f'[data-control="{control.name}"]')
            if control.kind == "slider":
                box.locator('input[type="range"]').focus()
                box.locator('input[type="range"]').press("ArrowRight" if indices[0] > demo.default_indices()[0]
                                                          else "ArrowLeft")
            else:
                box.locator(f'button[data-option="{indices[0]}"]').click()
            answered = {"key": key, "source": "kernel"}
            lab.wait(f"the kernel to answer the move of {control.name!r} (frame {key!r})", ANSWER_TIMEOUT_S,
                     lambda state: bool(state["demo"]) and answered.items() <= state["demo"].items())
            status = root.locator(".hs-status").inner_text()
            assert "recomputed in Python" in status, status
            frame = demo.frame(tuple(indices))
            for readout in demo.readouts:
                item = root.locator(f'[data-readout="{readout.name}"]')
                want = frame["readouts"][readout.name]
                assert float(item.get_attribute("data-value")) == pytest.approx(want, rel=1e-9)
                text = format_readout(want, readout.format, readout.unit, readout.cap)
                assert item.locator(".hs-value").inner_text() == text
            root.screenshot(path=str(SHOTS / f"{name}__after.png"))
        except Exception as error:
            saved = save_failure(page, log_path, console, name)
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
            reason = str(error) if isinstance(error, AssertionError) else f"{type(error).__name__}: {error}"
            raise AssertionError(f"{reason}\n\nartefacts: {', '.join(map(str, saved))}\npage errors: {errors}\n"
                                 f"last lines of the server log:\n{tail}") from (
                None if isinstance(error, AssertionError) else error)
        finally:
            context.close()
            stop(server)
    assert not errors, f"JupyterLab page errors: {errors}"
    assert not blocked, f"JupyterLab tried to reach other hosts: {blocked}"
