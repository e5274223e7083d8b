"""`python -m edge` runs the affectd command line."""

from edge.cli import main

raise SystemExit(main())
