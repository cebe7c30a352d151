"""Open vSwitch's database, read as RFC 7047 describes it: JSON-RPC over ovsdb-server's unix socket.

Stdlib only. The reading side is read-only by construction: `jsonrpc.Connection.call` refuses
`transact`, so `monitor`, the source and `dump` cannot change OVSDB. The one write path is
`transact.Writer`, used only by `vnettop.actions.ovs_executor` behind the actions gate (read-only mode
refuses there before any socket is opened).
"""
