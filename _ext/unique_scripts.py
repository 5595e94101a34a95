"""Each script once on a page.

Jupyter Book 1 sets up sphinx-thebe and sphinx-togglebutton so that their inline configuration
scripts are added twice to every page: the second ``const THEBE_JS_URL = ...`` is a syntax error
("Identifier 'THEBE_JS_URL' has already been declared") in every reader's console. This keeps the
first of any scripts that are the same file, or the same inline code, with the same attributes.
"""

from __future__ import annotations


def _key(script) -> tuple:
    """A script's file (an inline script has none: Sphinx stores it as None or "") and its attributes."""
    attributes = getattr(script, "attributes", {})
    return (
        str(getattr(script, "filename", script) or ""),
        tuple(sorted(attributes.items())),
    )


def unique_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts, seen = [], set()
    for script in context.get("script_files", []):
        key = _key(script)
        if key not in seen:
            seen.add(key)
            scripts.append(script)
    context["script_files"] = scripts


def setup(app):
    app.connect(
        "html-page-context", unique_scripts, priority=900
    )  # after every extension has added its own
    return {"parallel_read_safe": True, "parallel_write_safe": True}
