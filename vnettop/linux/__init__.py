"""Raw kernel plumbing shared by the read side (`collect`) and the write side (`actions`).

libc calls Python 3.11 lacks (`setns`, `prctl(PR_SET_NAME)`, raw syscalls), entering a network namespace
on a thread, and the netlink wire: one message walker, one attribute walker, one request-and-answer
socket, one RTM_GETNSID client. Why a package of its own: before it, the collector's rtnetlink modules
and their struct parsers imported each other (a cycle hidden by deferred imports), and three modules each
loaded libc and spoke RTM_GETNSID their own way. Everything here is stdlib only and imports nothing
else from vnettop (an import-linter contract in pyproject.toml holds it to that), so any layer may use it.
"""
