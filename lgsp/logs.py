"""structlog configuration, set once by the CLI: console on a TTY, JSON otherwise."""

from __future__ import annotations

import logging
import sys

import structlog

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("json", "console", "auto")


def configure_logging(fmt: str = "auto", level: str = "info") -> None:
    """Set structlog up once; an unknown format or level is a ``ConfigError`` (exit 2)."""
    from lgsp.errors import ConfigError

    if fmt not in FORMATS:
        raise ConfigError(f"--log-format {fmt!r} must be one of {', '.join(FORMATS)}")
    if level.lower() not in LEVELS:
        raise ConfigError(f"--log-level {level!r} must be one of {', '.join(LEVELS)}")
    numeric = logging.getLevelName(level.upper())
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if fmt == "console"
        else structlog.processors.JSONRenderer())
    # aiokafka logs connection retries through stdlib logging; the run reports failures itself,
    # so its own log is shown only with --log-level debug.
    logging.getLogger("aiokafka").setLevel(logging.DEBUG if numeric <= logging.DEBUG
                                           else logging.CRITICAL)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
