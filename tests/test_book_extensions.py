"""The book's own Sphinx extensions (_ext/), on the data they receive from Sphinx and myst-nb."""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import nbformat

EXT = Path(__file__).resolve().parent.parent / "_ext"


def extension(name: str):
    spec = importlib.util.spec_from_file_location(name, EXT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_printed_pieces_are_joined_as_printed():
    """IPython's %%bash sends stdout in 100-byte pieces, cut inside words: joined, nothing is added."""
    stream = nbformat.v4.new_output
    outputs = [
        stream("stream", name="stdout", text="note: valid"),
        stream("stream", name="stderr", text="warn\n"),
        stream("stream", name="stdout", text="ation episodes\n"),
        nbformat.v4.new_output("display_data", data={"text/plain": "figure"}),
        stream("stream", name="stdout", text="done\n"),
    ]
    joined = extension("whole_streams").join_streams(outputs)
    assert [(o["output_type"], o.get("name")) for o in joined] == [
        ("stream", "stdout"),
        ("stream", "stderr"),
        ("display_data", None),
    ]
    assert joined[0]["text"] == "note: validation episodes\ndone\n"
    assert (
        outputs[0]["text"] == "note: valid"
    )  # the notebook's own outputs are left as they are


def test_figures_are_numbered_from_one_on_each_page():
    numbers = {
        "book/a": {
            "figure": {"fig-x": (1,), "fig-y": (2,)},
            "table": {"t": (1,)},
        },
        "book/b": {"figure": {"fig-z": (4,), "fig-w": (3,)}},
    }
    env = SimpleNamespace(toc_fignumbers=numbers)
    rewritten = extension("figures_by_page").number_by_page(None, env)
    assert numbers["book/b"]["figure"] == {
        "fig-w": (1,),
        "fig-z": (2,),
    }  # order kept, restarted at 1
    assert numbers["book/a"]["figure"] == {
        "fig-x": (1,),
        "fig-y": (2,),
    } and numbers["book/a"]["table"] == {"t": (1,)}
    assert sorted(rewritten) == ["book/a", "book/b"]


def test_the_stream_join_replaces_the_function_myst_nb_renders_with():
    """A myst-nb that moved coalesce_streams would bring the broken words back: fail here instead."""
    import myst_nb.core.render

    assert callable(getattr(myst_nb.core.render, "coalesce_streams", None))
    module = extension("whole_streams")
    module.setup(SimpleNamespace())
    assert myst_nb.core.render.coalesce_streams is module.join_streams
