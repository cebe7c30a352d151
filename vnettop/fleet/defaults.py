"""The defaults of `vnettop fleet dump`, apart from the code that runs it.

Why a module of their own: every `vnettop` command builds the whole argument parser, `fleet dump`'s help
included, and importing `fanout` (with the fleet file reader and the snapshot model behind it) for three
constants cost a one-shot `vnettop dump` ~15 ms before it read anything.
"""

DEFAULT_REMOTE = "vnettop dump --format json --read-only"
DEFAULT_PARALLEL = 32
DEFAULT_TIMEOUT = 60.0
