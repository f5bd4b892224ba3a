"""Entry point for ``python -m gardener_gate``."""

from __future__ import annotations

import sys

from gardener_gate.cli import main

sys.exit(main())
