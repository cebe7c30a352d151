"""Write-mode actions of the app (n, d, a, A, m, u, +, -): placeholder until dialogs land."""

from __future__ import annotations


class WriteActions:
    """Mixin of the app's write actions."""
