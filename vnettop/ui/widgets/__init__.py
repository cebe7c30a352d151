"""Widgets of the main screen: header, topology tree, snapshot tables, details pane."""
