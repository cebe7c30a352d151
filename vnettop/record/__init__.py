"""The flight recorder: `vnettop record` writes the plumbing's changes over time (JSON Lines,
`vnettop.recording/1`), and `reader.Recording` rebuilds any moment and lists the changes between two.

Modules: `format` (the lines), `delta` (the difference between two snapshots, and applying it),
`writer` (whole lines, rotation), `recorder` (the loop), `reader` (moments and changes), `timefmt`
(times written and read), `changelog` (changes shown and filtered).
"""
