"""`python -m engine`: the `deepdream` command line."""

from engine.cli import main

raise SystemExit(main())
