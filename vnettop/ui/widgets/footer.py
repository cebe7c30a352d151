"""A Footer that rebuilds its keys only when the keys it shows change.

Textual's Footer recomposes (new FooterKey widgets, CSS applied to each) on every focus change and
every binding refresh. In vnettop the shown keys are the app's and do not depend on which view has
focus, so on a view switch that rebuild was ~10 % of the time the key took to answer. Here the shown
set is compared first and the footer is left alone when it is the same.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


def _shown_keys(screen: Screen[object]) -> tuple[object, ...]:
    """What the footer would draw: the shown bindings with their state, in order."""
    return tuple((b.key, b.action, b.description, enabled, tooltip, b.group)
                 for (_, b, enabled, tooltip) in screen.active_bindings.values() if b.show)


class SteadyFooter(Footer):
    """Footer whose recompose is skipped when the shown bindings did not change."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._shown: tuple[object, ...] | None = None
        self.recomposes = 0

    def bindings_changed(self, screen: Screen[object]) -> None:
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            self._bindings_ready = True
            return
        shown = _shown_keys(screen)
        if shown == self._shown and self._bindings_ready:
            return
        self._shown = shown
        self.recomposes += 1
        super().bindings_changed(screen)
