"""``python -m release``: the model-release command line."""

from release.cli import main

raise SystemExit(main())
