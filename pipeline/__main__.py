"""`python -m pipeline` runs the cascadewatch CLI."""

from pipeline.cli import main

main()
