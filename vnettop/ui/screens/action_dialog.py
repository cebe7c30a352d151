"""The dialog of every write action: fields from the plan, the `ip` command live, guards, confirmation.

Flow: the user edits fields -> each change rebuilds and validates the plan (its message shown inline,
else the equivalent `ip` command) -> apply -> in a thread worker the mutator's guards are asked for
warnings; if there are any they are shown and a second apply confirms them explicitly -> the mutator
applies the plan -> `ActionApplied` closes the dialog on success (the app then re-collects at once).
A destructive plan also needs its `confirm_text` (the device's name) typed.

Names that are not UTF-8 (`vnettop.names`) appear in the fields in their written form (`vnt\\xff`); what
is typed is read back the same way: the confirmation accepts the form shown, and a field naming an
existing namespace or bridge is resolved to that object's exact name.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from vnettop import names
from vnettop.actions.guards import GuardWarning, UnconfirmedWarnings
from vnettop.actions.plans import Plan
from vnettop.errors import VnettopError
from vnettop.model import Snapshot
from vnettop.textsafe import printable
from vnettop.ui.messages import ActionApplied
from vnettop.ui.plan_form import FieldSpec, build_plan, editable_fields

#: Plan fields that name an existing namespace.
_NAMESPACE_FIELDS = frozenset({"netns", "peer_netns", "to_netns"})


class ActionDialog(ModalScreen[None]):
    """One plan's form. `fixed` holds the fields the selection decides (device, netns, ifindex)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", key_display="esc"),
        Binding("ctrl+s", "apply", "Apply"),
    ]

    def __init__(self, plan_cls: type[Plan], fixed: dict[str, Any], prefill: dict[str, Any],
                 mutator: Any, snapshot: Snapshot | None, context: str = "") -> None:
        super().__init__()
        self.plan_cls = plan_cls
        self.fixed = fixed
        self.prefill = prefill
        self.mutator = mutator
        self.snapshot = snapshot
        self.context = context
        self.specs = editable_fields(plan_cls, fixed)
        self.plan: Plan | None = None
        self.error: str | None = None
        self.warnings: list[GuardWarning] = []
        self._warned_plan: Plan | None = None
        self.busy = False

    # -- layout ------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog-box") as box:
            box.border_title = self.plan_cls.title or self.plan_cls.__name__
            box.border_subtitle = "ctrl+s applies · esc cancels"
            if self.context:
                yield Static(Text(printable(self.context)), id="dialog-context")
            for spec in self.specs:
                yield from self._field(spec)
            if self.plan_cls.destructive:
                yield Label("type the name to confirm", classes="field-label")
                yield Input(id="confirm", placeholder="name of what will be deleted")
            yield Static("", id="preview")
            yield Static("", id="warnings")
            yield Static("", id="result")
            with Horizontal(id="dialog-buttons"):
                yield Button("Apply", id="apply", variant="error" if self.plan_cls.destructive else "primary")
                yield Button("Cancel", id="cancel")

    def _field(self, spec: FieldSpec) -> ComposeResult:
        value = self.prefill.get(spec.name, spec.default)
        if spec.kind == "bool":
            yield Checkbox(f"{spec.name}: {spec.help}", bool(value), id=f"f-{spec.name}")
            return
        yield Label(f"{spec.name}  [dim]{spec.help}[/dim]", classes="field-label")
        if spec.kind == "choice":
            yield Select([(c, c) for c in spec.choices], value=value or spec.choices[0], allow_blank=False,
                         id=f"f-{spec.name}")
        else:
            yield Input("" if value is None else names.written(str(value)), id=f"f-{spec.name}")

    def on_mount(self) -> None:
        self._revalidate()
        fields = self.query("Input, Checkbox, Select")
        (fields.first() if fields else self.query_one("#apply", Button)).focus()

    # -- the plan as typed -----------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in self.specs:
            widget = self.query_one(f"#f-{spec.name}")
            value = getattr(widget, "value", None)
            known = self._known(spec.name)
            if isinstance(value, str) and known is not None:
                value = names.resolve(value.strip(), known)
            out[spec.name] = value
        return out

    def _known(self, field: str) -> list[str] | None:
        """The existing names a field refers to (namespaces, bridges), to resolve a written form against."""
        snap = self.snapshot
        if snap is None:
            return None
        if field in _NAMESPACE_FIELDS:
            return [n for ns in snap.namespaces for n in ns.names]
        if field == "bridge":
            return [link.name for link in snap.links if link.bridge is not None]
        return None

    def _revalidate(self) -> None:
        try:
            self.plan = build_plan(self.plan_cls, self.fixed, self.values())
            self.error = None
        except VnettopError as exc:
            self.plan, self.error = None, str(exc)
        preview = self.query_one("#preview", Static)
        if self.plan is not None:
            command = printable(self.plan.ip_command())
            preview.update(Text.assemble(("$ ", "bold"), (command, "bold green"), "\n",
                                         (printable(self.plan.describe()), "dim")))
        else:
            preview.update(Text(f"✗ {printable(self.error or '')}", style="bold red"))
        if self.plan != self._warned_plan:
            self._show_warnings([])

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    def _changed(self, event: Any) -> None:
        if getattr(event, "input", None) is not None and event.input.id == "confirm":
            return
        self._revalidate()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_apply()

    @on(Button.Pressed, "#apply")
    def _apply_pressed(self) -> None:
        self.action_apply()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    # -- applying ----------------------------------------------------------------------------------

    def action_apply(self) -> None:
        if self.busy:
            return
        self._revalidate()
        plan = self.plan
        if plan is None:
            self.notify(self.error or "invalid", severity="error")
            return
        if plan.confirm_text is not None:
            typed = self.query_one("#confirm", Input).value.strip()
            if not names.matches(typed, plan.confirm_text):
                self._say(f"type '{names.written(plan.confirm_text)}' to confirm", "bold red")
                return
        confirmed = self.warnings if plan == self._warned_plan else []
        self.busy = True
        self._say("working…", "dim")
        self._run(plan, confirmed, first_pass=plan != self._warned_plan)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _run(self, plan: Plan, confirmed: list[GuardWarning], first_pass: bool) -> None:
        """Guards, then the mutator, off the event loop (route lookups and netlink block)."""
        try:
            if first_pass:
                warnings = self.mutator.check(plan, self.snapshot)
                if warnings:
                    self.app.call_from_thread(self._warned, plan, warnings)
                    return
            result = self.mutator.apply(plan, confirmed_warnings=confirmed, snapshot=self.snapshot)
        except UnconfirmedWarnings as exc:
            self.app.call_from_thread(self._warned, plan, exc.warnings)
            return
        except VnettopError as exc:
            self.post_message(ActionApplied(False, str(exc), plan.ip_command()))
            return
        except Exception as exc:  # never a traceback for the user
            self.post_message(ActionApplied(False, f"{type(exc).__name__}: {exc}", plan.ip_command()))
            return
        self.post_message(ActionApplied(result.ok, result.message, result.ip_command, plan))

    def _warned(self, plan: Plan, warnings: list[GuardWarning]) -> None:
        self.busy = False
        self._warned_plan = plan
        self._show_warnings(warnings)
        self._say("read the warnings; apply again to confirm them", "bold yellow")

    def _show_warnings(self, warnings: list[GuardWarning]) -> None:
        self.warnings = list(warnings)
        if not warnings:
            self._warned_plan = None
        text = Text()
        for w in warnings:
            text.append(f"⚠ {printable(w.message)}\n", style="bold yellow")
        self.query_one("#warnings", Static).update(text)
        button = self.query_one("#apply", Button)
        button.label = "Confirm and apply" if warnings else "Apply"

    def _say(self, message: str, style: str) -> None:
        self.query_one("#result", Static).update(Text(printable(message), style=style))

    def on_action_applied(self, message: ActionApplied) -> None:
        """Show the outcome; close on success (the app re-collects when the message reaches it)."""
        self.busy = False
        if message.ok:
            self.dismiss(None)
        else:
            self._say(f"✗ {message.message}", "bold red")


class NewObjectChooser(ModalScreen[type[Plan] | None]):
    """`n`: which kind of object to create."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", key_display="esc")]

    def __init__(self, choices: list[type[Plan]]) -> None:
        super().__init__()
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(id="chooser-box") as box:
            box.border_title = "Create"
            box.border_subtitle = "enter chooses · esc cancels"
            yield OptionList(*[Option(c.title, id=str(i)) for i, c in enumerate(self.choices)], id="chooser")

    def on_mount(self) -> None:
        for options in self.query(OptionList):  # none if the app is already shutting down
            options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[int(event.option.id or 0)])

    def action_cancel(self) -> None:
        self.dismiss(None)
