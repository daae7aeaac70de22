"""The headers of docs/contract.md §2 as a router reads and writes them.

Headers are kept as read, in order, as (name, bytes) pairs: a router never re-encodes what it
passes on. It reads a few of them as UTF-8 text, replaces ``lgsp-to`` and appends its own
``lgsp-trace`` entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

KIND, ID, FROM, TO = "lgsp-kind", "lgsp-id", "lgsp-from", "lgsp-to"
TRACE, REASON = "lgsp-trace", "lgsp-reason"
TRACEPARENT, TRACESTATE = "traceparent", "tracestate"
DOCUMENT, STATUS = "document", "status"

Header = tuple[str, bytes | None]
Headers = tuple[Header, ...]


def normalise(items: Iterable[tuple[str, str | bytes | None]]
              | Mapping[str, str | bytes | None] | None) -> Headers:
    """confluent-kafka's headers (a list or a dict; values bytes, str or None) as
    (name, bytes | None) pairs."""
    if items is None:
        return ()
    if isinstance(items, Mapping):
        items = items.items()
    return tuple((name, value.encode() if isinstance(value, str) else value)
                 for name, value in items)


def text(headers: Sequence[Header], name: str) -> str | None:
    """The first ``name`` header as text (None when absent or null)."""
    for key, value in headers:
        if key == name and value is not None:
            return value.decode("utf-8", "replace")
    return None


def recipients(headers: Sequence[Header]) -> list[str]:
    """``lgsp-to`` split on commas, blanks dropped, each code once in the order it came."""
    listed = (text(headers, TO) or "").split(",")
    return list(dict.fromkeys(code.strip() for code in listed if code.strip()))


def traces(headers: Sequence[Header]) -> list[Header]:
    return [(key, value) for key, value in headers if key == TRACE]


def previous_hop(headers: Sequence[Header]) -> str | None:
    """The platform code of the last ``lgsp-trace`` entry (``<code>@<µs>``); None: no hop yet."""
    entries = [value for key, value in headers if key == TRACE and value is not None]
    if not entries:
        return None
    return entries[-1].decode("utf-8", "replace").rpartition("@")[0].strip() or None


def trace_entry(platform_code: str, now_us: int) -> Header:
    return (TRACE, f"{platform_code}@{now_us}".encode())


def passed_on(headers: Sequence[Header], to: str, entry: Header | None) -> Headers:
    """Every header as read, ``lgsp-to`` replaced by ``to`` (where the first one was), and
    ``entry`` (this platform's ``lgsp-trace``) appended when given."""
    out: list[Header] = []
    replaced = False
    for key, value in headers:
        if key == TO:
            if not replaced:
                out.append((TO, to.encode()))
                replaced = True
            continue
        out.append((key, value))
    if not replaced:
        out.append((TO, to.encode()))
    if entry is not None:
        out.append(entry)
    return tuple(out)
