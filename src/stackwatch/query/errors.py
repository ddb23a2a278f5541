"""What a view raises when asked for something it cannot give; the web layer maps them to
HTTP statuses (400, 404) with the message as written."""

from __future__ import annotations


class QueryError(Exception):
    """A request a view cannot answer: the message says why, for the reader."""

    status = 400


class BadQuery(QueryError):
    """A parameter that is valid on its own but not here (an unknown label, a range end
    before its start)."""

    status = 400


class NotFound(QueryError):
    """Nothing by that name (a service, a source, a trace id)."""

    status = 404
