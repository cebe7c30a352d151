"""Navigation actions of the app: peer, bridge, holder, owner and trace jumps, and the `/` filter.

The rules (where a jump leads, what a trace contains) are pure functions in `vnettop.ui.jumps`; this
mixin only turns their answers into cursor moves, screens and notifications.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.widgets import Input

from vnettop.model import Snapshot
from vnettop.ui.filtering import Filter
from vnettop.ui.jumps import bridge_target, holder_target, hop_target, owner_target, peer_target, trace_from
from vnettop.ui.screens.trace import TraceScreen
from vnettop.ui.targets import Target

if TYPE_CHECKING:
    from textual.app import App

    _Base = App[int]
else:
    _Base = object


class NavigationActions(_Base):
    """Mixin for VnettopApp: jumps, trace and filter."""

    if TYPE_CHECKING:  # provided by VnettopApp
        snapshot: Snapshot | None
        filter: Filter
        _stale_views: set[str]

        def current_target(self) -> Target | None: ...
        def current_widget(self) -> Any: ...
        def jump_to(self, target: Target, prefer_topology: bool = False) -> None: ...
        def main_query(self, selector: Any, expect_type: Any = None) -> Any: ...
        def _set_view_title(self) -> None: ...
        def _refresh_header(self) -> None: ...
        def _refresh_view(self) -> None: ...
        def _mark_all_stale(self) -> None: ...

    def _jump_or_say(self, result: Target | str) -> None:
        if isinstance(result, str):
            self.notify(result, severity="warning", timeout=4)
        else:
            self.jump_to(result)

    def action_peer(self) -> None:
        if self.snapshot is not None:
            self._jump_or_say(peer_target(self.snapshot, self.current_target()))

    def action_bridge(self) -> None:
        if self.snapshot is not None:
            self._jump_or_say(bridge_target(self.snapshot, self.current_target()))

    def action_holder(self) -> None:
        if self.snapshot is not None:
            self._jump_or_say(holder_target(self.snapshot, self.current_target()))

    def action_owner(self) -> None:
        if self.snapshot is None:
            return
        result = owner_target(self.snapshot, self.current_target())
        if isinstance(result, str):
            self.notify(result, severity="warning", timeout=4)
        else:
            self.jump_to(result[0])
            self.notify(result[1], timeout=3)

    def action_trace(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        result = trace_from(snap, self.current_target())
        if isinstance(result, str):
            self.notify(result, severity="warning", timeout=4)
            return
        title, hops = result
        targets = [hop_target(snap, hop) for hop in hops]

        def chosen(target: Target | None) -> None:
            if target is not None:
                self.jump_to(target)

        self.push_screen(TraceScreen(title, hops, targets), chosen)

    # -- filter ------------------------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.main_query("#filter", Input)
        box.display = True
        box.value = str(self.filter)
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.main_query("#filter", Input)
        box.value = ""
        box.display = False
        self._apply_filter(Filter())
        self.current_widget().focus()

    def _apply_filter(self, flt: Filter) -> None:
        if flt == self.filter:
            return
        self.filter = flt
        self._mark_all_stale()
        self._stale_views.add("hosts")  # a fleet file's hosts view filters too
        self._set_view_title()
        self._refresh_header()
        self._refresh_view()
