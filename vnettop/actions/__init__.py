"""The write side: plans (plain data), their validation, guards, the journal, and the one Mutator gate.

Importing this package is cheap: it imports neither pyroute2 nor Textual. The public surface:

- `plans`: one frozen dataclass per action (`CreateBridge`, `CreateVethPair`, `CreateTunTap`,
  `CreateNamespace`, `DeleteNamespace`, `SetMaster`, `ClearMaster`, `MoveToNamespace`, `SetLinkState`,
  `AddAddress`, `DelAddress`, `DeleteLink`; `PLAN_TYPES`), each with `ip_command()`, `describe()`,
  `validate()`, `destructive`, `title`, `confirm_text`, `target`, `to_dict()` / `plan_from_dict()`;
  field help for generated dialogs in `dataclasses.fields(cls)[i].metadata["help"]`.
- `mutator.Mutator`: `apply(plan, confirmed_warnings=(), snapshot=None) -> ApplyResult`,
  `check(plan, snapshot=None) -> list[GuardWarning]`, `read_only`, `Mutator.for_cli(flag, journal)`.
  Call it from a thread worker: it blocks on netlink.
- `guards`: `check(plan, snapshot, ssh)` (pure), `GuardWarning`, `UnconfirmedWarnings`.
- `ovs_plans`: the Open vSwitch plans (`CreateOvsBridge`, `DeleteOvsBridge`, `AddOvsPort`, `DeleteOvsPort`,
  `SetOvsTag`), whose `ip_command()` is their `ovs-vsctl` command; the same `Mutator.apply` writes them to
  OVSDB (`ovs_executor`, over `vnettop.ovsdb.transact`), guarded by `ovs_guards`.
- `journal.Journal`, `lab.cli_lab(action, journal, ovs=False, ovsdb=None)` (`lab_ovs`: the OVS part).
"""
