"""Number the figures of each page from 1, as the chapters' text does ("Figure 2" is a chapter's
second figure).

Sphinx numbers figures across the whole book when its pages carry no section numbers (this book's
chapters number themselves in their titles), so chapter 2's first figure would be "Fig. 9". After
Sphinx has assigned its numbers, this keeps their order within each page and restarts them at 1.
"""

from __future__ import annotations


def number_by_page(app, env) -> list[str]:
    for numbers in env.toc_fignumbers.values():
        for figtype, ids in numbers.items():
            if figtype != "figure":
                continue
            in_order = sorted(ids, key=lambda name: ids[name])
            numbers[figtype] = {
                name: (index,) for index, name in enumerate(in_order, start=1)
            }
    return list(
        env.toc_fignumbers
    )  # rewrite the pages: their captions and references change


def setup(app):
    app.connect(
        "env-get-updated", number_by_page, priority=900
    )  # after Sphinx's own numbering
    return {"parallel_read_safe": True, "parallel_write_safe": True}
