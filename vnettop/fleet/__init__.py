"""Many hosts: snapshots gathered over the system's `ssh` into a fleet file, and questions over it.

vnettop rides what operators already run: OpenSSH (their ssh_config, ProxyJump, ControlMaster, agent and
certificates work unchanged, because the real `ssh` is run) for on-demand questions, and Prometheus for
continuous ones (`vnettop export`). No agent of vnettop's own listens anywhere.
"""
