"""The write side: plans (plain data), their validation, guards, the journal, and the one Mutator gate.

Importing this package is cheap: it imports neither pyroute2 nor Textual. The UI builds dialogs from
`vnettop.actions.plans` and calls `vnettop.actions.mutator.Mutator.apply` from a thread worker.
"""
