"""`python -m vnettop` is the `vnettop` command."""

from vnettop.cli import main

raise SystemExit(main())
