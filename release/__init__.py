"""model-release: turn a training project into a reproducible, verified, versioned release on the Hub."""

from __future__ import annotations

__version__ = "0.1.0"
