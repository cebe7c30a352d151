"""Renderers of a Snapshot: JSON (the documented contract), plain text, and Graphviz DOT."""
