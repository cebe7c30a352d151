"""Helpers shared by the line-drawn widgets (the tables and the details pane).

Both draw only the lines on screen from lines they keep, so what they show can change without Textual
laying out the whole screen again; these helpers keep it that way.
"""

from __future__ import annotations

from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.widget import Widget


def set_virtual_size(view: ScrollView, size: Size) -> None:
    """Change what `view` scrolls over, repainting only `view`.

    Setting `virtual_size` the usual way asks for a layout of the whole screen (10-20 ms with a
    thousand-line tree beside it), on every change of the number of lines. The view's own box does not
    depend on its content, so only its scrollbars need updating (which lays out again by itself in
    the rare case a scrollbar appears or disappears).
    """
    if view.virtual_size == size:
        return
    view.set_reactive(Widget.virtual_size, size)
    view._scroll_update(size)
    view.refresh()
