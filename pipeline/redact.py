"""Secrets out of what is printed and logged: URLs lose their password, and the path and query of a
web URL, where webhook tokens and provider API keys live (hooks.slack.com/services/T../B../XXXX,
mainnet.infura.io/v3/KEY, ?apikey=...)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

MASK = "***"


def redact_url(url: str) -> str:
    """`url` safe to show: user kept, password masked; for http(s) and ws(s), the path beyond its first
    segment and any query masked. Not a URL: returned as it is."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if not parts.scheme or not parts.netloc:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host + (f":{port}" if port else "")
    if parts.username is not None:
        netloc = f"{parts.username}{':' + MASK if parts.password is not None else ''}@{netloc}"
    path, query = parts.path, parts.query
    if parts.scheme.lower() in ("http", "https", "ws", "wss"):
        segments = path.split("/")
        if len(segments) > 2 and any(segments[2:]):
            path = "/".join(segments[:2]) + "/" + MASK
        query = MASK if query else ""
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def _url_secrets(url: str) -> list[str]:
    """The parts of a URL that redact_url masks (password, deep path segments, query), as they may appear
    alone in a client's error message ("Max retries exceeded with url: /v3/KEY")."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    out = [parts.password or ""]
    if parts.scheme.lower() in ("http", "https", "ws", "wss"):
        segments = parts.path.split("/")
        out += ["/".join(segments[2:])] + segments[2:] + [parts.query]
    return [p for p in out if len(p) >= 4]  # short parts ("v3", "ws") are not secrets and are everywhere


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by its masked form; a URL's password, deep path and query are
    masked wherever they appear, with or without the rest of the URL."""
    pairs: dict[str, str] = {}
    for s in secrets:
        if not s:
            continue
        if "://" in s:
            pairs[s] = redact_url(s)
            pairs.update({p: MASK for p in _url_secrets(s)})
        else:
            pairs[s] = MASK
    for s in sorted(pairs, key=len, reverse=True):
        text = text.replace(s, pairs[s])
    return text


#: third-party loggers that name the URLs they connect to (web3 at INFO: "Connecting to: ws://...")
URL_LOGGERS = ("web3.providers.WebSocketProvider", "web3.providers.HTTPProvider", "web3.providers.AsyncHTTPProvider",
               "web3._utils.http_session_manager.HTTPSessionManager", "urllib3.connectionpool", "httpx", "httpcore",
               "websockets.client")


class ScrubFilter(logging.Filter):
    """Rewrites each record's message with `scrub` (attached to a logger, it sees that logger's records)."""

    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = scrub(text, self.secrets)
        if clean != text:
            record.msg, record.args = clean, ()
        return True


def scrub_logs(secrets: Iterable[str], loggers: Iterable[str] = URL_LOGGERS) -> ScrubFilter:
    """Keep `secrets` out of what the URL-naming client loggers write; returns the filter (to remove it)."""
    f = ScrubFilter(secrets)
    for name in loggers:
        logging.getLogger(name).addFilter(f)
    return f
