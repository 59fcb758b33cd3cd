"""``python -m jumprelu``: the command-line interface."""

from jumprelu.cli.main import main

raise SystemExit(main())
