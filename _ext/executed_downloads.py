"""The book's ".ipynb" download of a chapter is the executed chapter, with every output.

Sphinx's download is a copy of the source, and the repository stores each chapter with the outputs
of its nbval-checked cells only. myst-nb's executed copy (jupyter_execute/) is no better: when the
outputs come from the execution cache, it writes the notebook it read, without them. Every chapter
is in the execution cache once the book is read (run now or in an earlier build, `execute:
cache` in _config.yml), so after the build each download is written from there.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from jupyter_cache import get_cache
from sphinx.util import logging

logger = logging.getLogger(__name__)


def write_executed_downloads(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    # the path as myst-nb opens it (relative to where the build runs)
    cache = get_cache(app.config.nb_execution_cache_path or ".jupyter_cache")
    for docname in sorted(app.env.found_docs):
        source = Path(app.env.doc2path(docname))
        if source.suffix != ".ipynb":
            continue
        try:
            _, executed = cache.merge_match_into_notebook(nbformat.read(source, as_version=4))
        except KeyError:
            logger.warning(f"{docname}: not in the execution cache; its download has no outputs")
            continue
        target = Path(app.outdir, "_sources", docname + ".ipynb")
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(executed, str(target))


def setup(app):
    app.connect("build-finished", write_executed_downloads)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
