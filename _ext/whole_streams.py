"""A cell's printed output shown as printed: its stream pieces joined as they are.

A kernel sends a cell's stdout in pieces, and IPython's ``%%bash`` cuts it every 100 bytes, in
the middle of words. myst-nb's ``nb_merge_streams`` joins the pieces of a stream but ends each one
with a newline (``coalesce_streams`` strips and re-terminates every piece), so appendix 5's command
output read "(add classe" / "s, or raise". This replaces that function, where myst-nb's renderer
calls it, with one that concatenates each stream's pieces unchanged.
"""

from __future__ import annotations

import copy

import myst_nb.core.render


def join_streams(outputs: list) -> list:
    """One output per stream name (at the place of its first piece), its text every piece in order."""
    joined, streams = [], {}
    for output in outputs:
        if output["output_type"] != "stream":
            joined.append(output)
        elif output["name"] in streams:
            streams[output["name"]]["text"] += output["text"]
        else:
            streams[output["name"]] = copy.copy(
                output
            )  # the notebook's own output stays as it is
            joined.append(streams[output["name"]])
    return joined


def setup(app):
    myst_nb.core.render.coalesce_streams = join_streams
    return {"parallel_read_safe": True, "parallel_write_safe": True}
