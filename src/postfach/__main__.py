"""`python -m postfach` runs the command line."""

from postfach.cli.main import main

raise SystemExit(main())
