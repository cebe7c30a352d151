"""Open vSwitch's database, read as RFC 7047 describes it: JSON-RPC over ovsdb-server's unix socket.

Stdlib only, read-only by construction: the client knows the methods `get_schema`, `monitor` and `echo`
(the server's keep-alive) and nothing that writes (`transact` is not implemented here), so no code path
of the reading side can change OVSDB. Writes, when vnettop makes them, go through the actions gate.
"""
