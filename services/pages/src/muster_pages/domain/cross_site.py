"""Which requests may change something: only those the page itself sends."""

from __future__ import annotations

from urllib.parse import urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def same_site_request(method: str, origin: str | None, host: str | None) -> bool:
    """Whether a request may act with the session cookie.

    A GET only reads. A POST, PUT or DELETE must come from a page of this site: browsers
    send `Origin` on every such `fetch`, and a form or script on another site names its own
    origin, so a forged request is refused even though the cookie would ride along.
    """
    if method.upper() in SAFE_METHODS:
        return True
    if not origin or not host or origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == host.lower()
