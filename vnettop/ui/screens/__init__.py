"""Screens pushed over the main one: help, trace, soft errors, and the action dialogs."""
