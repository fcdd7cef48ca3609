"""Two fixes that keep every page's browser console free of errors.

* pydata-sphinx-theme logs "Got invalid theme mode" when the page's ``default_mode``
  is empty, which is how sphinx-book-theme leaves it: we set it to "auto".
* Jupyter Book's sphinx-thebe adds its inline set-up script twice, so the page
  throws "Identifier 'THEBE_JS_URL' has already been declared": we drop repeats.
"""


def set_default_mode(app, pagename, templatename, context, doctree):
    if not context.get("default_mode"):
        context["default_mode"] = "auto"


def drop_repeated_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (getattr(script, "filename", None) or "", tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", set_default_mode, priority=900)
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
