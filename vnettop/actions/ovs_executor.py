"""The OVSDB side of `Mutator.apply`: one OVS plan as one OVSDB transaction (vnettop.ovsdb.transact).

Reached only from the gate, after its read-only refusal, validation and guards: nothing here is
imported, let alone connected, before that. Every failure is one line: OVSDB absent or hung
(`OvsdbError` from the connection, naming the socket and the timeout), the change not fitting what
OVSDB holds (`StateError`), or OVSDB's own refusal of the transaction (its error and details).
"""

from __future__ import annotations

import os
import shlex
import sys

from vnettop.actions import ovs_plans as op
from vnettop.ovsdb import transact as tx
from vnettop.ovsdb.jsonrpc import OvsdbError

#: Seconds to wait for ovsdb-server's answers, and for ovs-vswitchd to apply a committed change.
TIMEOUT = 5.0
APPLY_TIMEOUT = 10.0


def _comment(plan: op.OvsPlan) -> str:
    """The transaction's comment (ovsdb-server logs it): who, and the equivalent command."""
    argv = " ".join(shlex.quote(a) for a in sys.argv[:3]) if sys.argv else "vnettop"
    return f"vnettop (pid {os.getpid()}, {argv}): {plan.ovs_vsctl()}"


def operations(plan: op.OvsPlan, sw: tx.Switch) -> list[dict[str, object]]:
    """The transaction for `plan` against the rows read (pure: raises tx.StateError if it cannot fit)."""
    if isinstance(plan, op.CreateOvsBridge):
        return tx.add_bridge(sw, plan.name, None if plan.datapath_type == "system" else plan.datapath_type)
    if isinstance(plan, op.DeleteOvsBridge):
        return tx.del_bridge(sw, plan.name)
    if isinstance(plan, op.AddOvsPort):
        return tx.add_port(sw, plan.bridge, plan.name, "" if plan.type == "system" else plan.type, plan.tag,
                           op.parse_pairs(plan.options, "options"),
                           op.parse_pairs(plan.external_ids, "external_ids"))
    if isinstance(plan, op.DeleteOvsPort):
        return tx.del_port(sw, plan.name, plan.bridge)
    if isinstance(plan, op.SetOvsTag):
        return tx.set_tag(sw, plan.port, plan.tag)
    raise tx.StateError(f"{type(plan).__name__}: no OVSDB action for this plan")


def execute(plan: op.OvsPlan, path: str, timeout: float | None = None,
            apply_timeout: float | None = None) -> str | None:
    """Apply `plan` to the OVSDB at `path`; the detail for the success line, or None. Raises OvsdbError.
    The timeouts default to TIMEOUT and APPLY_TIMEOUT (read at each call)."""
    timeout = TIMEOUT if timeout is None else timeout
    apply_timeout = APPLY_TIMEOUT if apply_timeout is None else apply_timeout
    with tx.Writer(path, timeout) as writer:
        sw = writer.read()
        ops = operations(plan, sw)
        result, next_cfg = writer.commit(sw, ops, _comment(plan))
        if apply_timeout <= 0:
            return "committed to OVSDB"
        if sw.cur_cfg == 0:
            return "committed to OVSDB; ovs-vswitchd has never applied this database (is it running?)"
        try:
            if not writer.wait_applied(next_cfg, apply_timeout):
                return (f"committed to OVSDB, but ovs-vswitchd has not applied it within {apply_timeout:g} s "
                        f"(is ovs-vswitchd running?)")
            errors = writer.interface_errors(tx.inserted_interfaces(ops, result))
        except OvsdbError as exc:  # the change is in: say so, and why it could not be followed further
            return f"committed to OVSDB; then lost sight of it ({exc})"
        if errors:
            said = "; ".join(f"{name}: {err}" for name, err in sorted(errors.items()))
            return f"committed, but ovs-vswitchd reports: {said}"
        return None
