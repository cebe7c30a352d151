#!/usr/bin/env python3
"""A stand-in for `ssh` in fan-out tests: behaves per host alias, as real hosts would fail.

Called as `fakessh.py -o BatchMode=yes -o ConnectTimeout=N [...] -- HOST REMOTE_COMMAND`. It records its
argv (one JSON line per call) in $VNT_FAKESSH_LOG so tests can check what vnettop asked ssh to do.
The real-OpenSSH tests live with the components tier; this one makes every failure mode exact.
"""

import json
import os
import sys
import time

argv = sys.argv[1:]
host, remote = argv[argv.index("--") + 1], argv[argv.index("--") + 2]
log = os.environ.get("VNT_FAKESSH_LOG")
if log:
    with open(log, "a") as f:
        f.write(json.dumps({"argv": argv, "pid": os.getpid(), "start": time.monotonic()}) + "\n")
snapshot_file = os.environ["VNT_FAKESSH_SNAPSHOT"]
if host.startswith("good"):
    time.sleep(float(os.environ.get("VNT_FAKESSH_DELAY", "0")))
    with open(snapshot_file) as f:
        sys.stdout.write(f.read())
elif host == "refused":
    sys.stderr.write("ssh: connect to host 127.0.0.1 port 1: Connection refused\r\n")
    sys.exit(255)
elif host == "garbage":
    sys.stdout.write("Welcome to hv7!\nlast login: never\n")
elif host == "notasnapshot":
    sys.stdout.write('{"schema": "something/else"}\n')
elif host == "exits3":
    sys.stderr.write("sudo: a password is required\n")
    sys.exit(3)
elif host == "hangs":
    # A child that keeps stdout open, like a ProxyCommand: only killing the group ends it.
    if os.fork() == 0:
        time.sleep(600)
        os._exit(0)
    time.sleep(600)
else:
    sys.stderr.write(f"ssh: Could not resolve hostname {host}: Name or service not known\n")
    sys.exit(255)
