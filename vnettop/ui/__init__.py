"""The live Textual UI: `build_app` / `run` in `vnettop.ui.app`.

The UI reads Snapshots from a Collector and hands changes to a Mutator; it never reads the kernel itself
(no pyroute2 here), so it can be driven by recorded snapshots in tests and by `--load` / `--demo`.
"""
