"""Forms for action dialogs, derived from the plan dataclasses' fields (pure, no Textual).

A plan's fields say their type and, in `metadata["help"]`, what they mean; the dialog is generated
from them, so a new plan field appears in the UI without UI code. Fields fixed by the selection (the
device, its namespace, the ifindex the screen saw) are not editable.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from vnettop.actions.plans import Plan
from vnettop.errors import ValidationError


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One editable field of a form."""

    name: str
    kind: str  # "text", "optional-text", "int", "bool", "choice"
    help: str
    default: Any
    choices: tuple[str, ...] = ()


def _kind(f: dataclasses.Field[Any]) -> str:
    ftype = str(f.type).replace(" ", "")
    if f.metadata.get("choices"):
        return "choice"
    if ftype == "bool":
        return "bool"
    if ftype.startswith("int"):
        return "int"
    if "None" in ftype:
        return "optional-text"
    return "text"


def editable_fields(plan_cls: type[Plan], fixed: dict[str, Any]) -> list[FieldSpec]:
    """The fields a user fills in (everything not fixed by the selection, ifindexes never)."""
    out = []
    for f in dataclasses.fields(plan_cls):  # type: ignore[arg-type]
        if f.name in fixed or f.name.endswith("ifindex"):
            continue
        default = None if f.default is dataclasses.MISSING else f.default
        out.append(FieldSpec(f.name, _kind(f), str(f.metadata.get("help", "")), default,
                             tuple(f.metadata.get("choices", ()))))
    return out


def convert(spec: FieldSpec, raw: Any) -> Any:
    """A form value as the plan field wants it; ValidationError naming the field if it cannot be."""
    if spec.kind == "bool":
        return bool(raw)
    text = "" if raw is None else str(raw).strip()
    if spec.kind == "int":
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            raise ValidationError(f"{spec.name} {text!r}: not a whole number") from None
    if spec.kind == "optional-text":
        return text or None
    return text


def build_plan(plan_cls: type[Plan], fixed: dict[str, Any], values: dict[str, Any]) -> Plan:
    """The plan from fixed fields and form values, validated (raises ValidationError)."""
    kwargs = dict(fixed)
    for spec in editable_fields(plan_cls, fixed):
        kwargs[spec.name] = convert(spec, values.get(spec.name, spec.default))
    try:
        plan = plan_cls(**kwargs)
    except TypeError as exc:
        raise ValidationError(f"{plan_cls.title or plan_cls.__name__}: {exc}") from None
    plan.validate()
    return plan
