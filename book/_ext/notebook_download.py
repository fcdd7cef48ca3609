"""Offer every executed chapter as an ``.ipynb`` download.

sphinx-book-theme adds a ".ipynb" entry to a page's download menu when the page
context names ``ipynb_source``, but it only sets that when a launch button (Binder,
JupyterHub, ...) is configured. This extension does the same without one: it copies
the notebook that MyST-NB executed (``_build/jupyter_execute/<page>.ipynb``) into
``_sources/`` and points the download menu at it.
"""

from pathlib import Path
from shutil import copy2


def offer_notebook_download(app, pagename, templatename, context, doctree):
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    # Before sphinx-book-theme's header buttons (priority 501) read the context.
    app.connect("html-page-context", offer_notebook_download, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
