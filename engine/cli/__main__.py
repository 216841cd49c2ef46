"""`python -m engine.cli` runs the `ita` command."""

from engine.cli import main

main()
