"""The ``lgsp`` command line: the one place that composes producers/ and consumers/."""

from lgsp.cli.app import app, main

__all__ = ["app", "main"]
