"""Keys typed in a burst reach the widget that has focus once the keys before them were answered.

Textual routes a key to the focused widget when the app takes it from its queue, not when that widget
gets to it: the app hands "tab", "x", "y" (typed fast, or arriving in one read over a slow SSH link) to
the same field before the field has even seen the tab, and the focus moves only when the tab comes
back up to the app's bindings. So "x" and "y" landed in the field being left. Worse, `/` then `qdhcp`
sent the `q` to the tree (the filter box gets focus a moment later, through `focus()`'s `call_later`)
and quit the app; `n` or `d` followed by typing lost the first characters before the dialog was up.

`KeyOrder` holds a key back while the key before it may still move the focus (anything but an arrow,
page key, or text typed into an input: a binding can push a screen or focus something) and the app is
not settled yet: something other than keys still in the app's queue, or in a queue of a widget on the
current screen, or a screen not mounted yet. Held keys go back into the app's queue, in order, when it
is settled (or after MAX_HOLD of waiting at the latest, so a key is never lost or stuck). Arrows and
typing into an input never make the next key wait: they cannot move the focus, and a burst of them still
shares one repaint. The hold counts only time the app could have answered in (`_Waited`): a loop blocked
in work does not use it up.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from textual import events
from textual.widgets import Input

#: Keys that move within a widget and never move the focus (answered without waiting).
NAVIGATION_KEYS = frozenset({"up", "down", "left", "right", "pageup", "pagedown", "home", "end"})
#: Keys an input consumes as editing.
EDITING_KEYS = frozenset({"backspace", "delete", "ctrl+u", "ctrl+w", "ctrl+k"})
#: The longest a key is held back waiting for the app to settle, counted in time the app could have let
#: it through: a turn of the event loop counts at most STEP, so the time the loop spent blocked in work
#: (a dialog composed, a garbage collection on a slow machine) does not count.
MAX_HOLD = 0.5
#: How often a held key checks whether the app has settled.
TICK = 0.002
#: The most one turn of the loop counts toward MAX_HOLD (so a key waits at most MAX_HOLD / STEP turns
#: past a blocked loop: never for ever).
STEP = 0.05


def _busy(pump: Any) -> bool:
    """Whether a message pump (app, screen, widget) still has messages to handle, or is not mounted."""
    queue = getattr(pump, "_message_queue", None)
    if queue is not None and queue.qsize() > 0:
        return True
    if getattr(pump, "_pending_message", None) is not None or getattr(pump, "_next_callbacks", None):
        return True
    return not getattr(pump, "is_mounted", True)


def _queued(pump: Any) -> list[Any]:
    """The messages waiting in a pump's queue (all of them counted as work if they cannot be seen)."""
    queue = pump._message_queue
    waiting = getattr(queue, "values", None)  # textual._queue.Queue keeps them in a deque
    return list(waiting) if waiting is not None else [None] * queue.qsize()


def _is_work(message: Any) -> bool:
    """Keys still to come from the terminal are not work the next key must wait for; anything else
    (a key bubbling back to the app's bindings, a focus change queued by `focus()`) is."""
    return not (isinstance(message, events.Key) and not message.is_forwarded)


def may_move_focus(key: events.Key, focused: object) -> bool:
    """False for keys that only move or edit inside the focused widget; True for anything a binding
    may answer (a screen pushed, a focus moved)."""
    if key.key in NAVIGATION_KEYS:
        return False
    return not (isinstance(focused, Input) and (key.is_printable or key.key in EDITING_KEYS))


class KeyOrder:
    """The gate every key from the terminal passes (see the module docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.held: deque[events.Key] = deque()
        #: Keys held back so far (tests and curiosity).
        self.holds = 0
        self._releasing: events.Key | None = None
        self._unsettled = False  # the last key let through may still move the focus
        self._task: asyncio.Task[None] | None = None

    def admit(self, key: events.Key) -> bool:
        """True: answer `key` now. False: it is held and comes back through the app's queue."""
        if key is self._releasing:
            self._releasing = None
        elif self.held or (self._unsettled and not self.settled(inside_app=True)):
            self.held.append(key)
            self.holds += 1
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._release())
            return False
        self._unsettled = may_move_focus(key, self.app.focused)
        return True

    def settled(self, inside_app: bool = False) -> bool:
        """Nothing left that could still move the focus: the app's queue (less the message being
        handled, when asked from inside the app) and every widget of the current screen are idle."""
        app = self.app
        if inside_app:
            if getattr(app, "_next_callbacks", None) or any(map(_is_work, _queued(app))):
                return False
        elif _busy(app):
            return False
        try:
            screen = app.screen
        except Exception:  # no screen: starting up or shutting down
            return True
        return not any(_busy(node) for node in screen.walk_children(with_self=True))

    async def _release(self) -> None:
        """Give the held keys back to the app one by one, each once the app has settled.

        Why the hold is not wall time: while the loop is blocked (the chooser's choice composing the
        dialog, a garbage collection), this task cannot run, and a wall-clock deadline expired then would
        let the key go at once, before the dialog has focus: on a loaded machine the first character
        typed after `n`, down, enter landed in the tree and was lost."""
        while self.held and self.app.is_running:
            waited = _Waited()
            while self._unsettled and not self.settled() and waited.seconds < MAX_HOLD:
                await waited.tick()
            key = self.held.popleft()
            self._releasing = key
            self.app.post_message(key)
            while self._releasing is key and waited.seconds < 2 * MAX_HOLD:
                await waited.tick()  # until the app has let it through
            self._releasing = None


class _Waited:
    """Time spent waiting for the app, each turn of the loop counted at most STEP (see MAX_HOLD)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._last = time.monotonic()

    async def tick(self) -> None:
        await asyncio.sleep(TICK)
        now = time.monotonic()
        self.seconds += min(now - self._last, STEP)
        self._last = now
