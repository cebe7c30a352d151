"""vnettop: a live terminal inspector for Linux virtual networking."""

__version__ = "0.1.0"
