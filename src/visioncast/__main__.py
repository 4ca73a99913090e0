"""``python -m visioncast`` runs the command line."""

from __future__ import annotations

from visioncast.cli.main import main

raise SystemExit(main())
