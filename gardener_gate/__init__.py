"""gardener-gate: a deploy gate over the logs of a Cloud Run revision."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
