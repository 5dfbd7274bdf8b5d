"""Credentials never leave the process: one function masks them in any text that may be logged, put in
run metadata or raised (the Dagster event log and compute logs keep every message and traceback).

A credential is, wherever it appears in a text:
- the password of a URL (`scheme://user:password@host`, shown as `scheme://user:***@host`), or its whole
  user-info when that is a single name (`scheme://token@host`, shown as `scheme://***@host`);
- the value of a query parameter that carries a key (`?key=…`, `access_token=…`, `sign=…`);
- the value of an environment variable whose name says it is one (`PGPASSWORD`, `TICKET_API_TOKEN`,
  `*_SECRET`, `*_KEY`, …) or that the configuration names as one (a source's `token_env`, an alert
  channel's `password_env` or webhook `url_env`: `secret_variable` registers them).
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

MASK = "***"
# Words of a variable's name (split at "_") that make its value a credential; PGPASSWORD-style names too.
# By word, so that TOKENIZERS_PARALLELISM or PWD (the working directory) are not taken for one.
_SECRET_WORDS = frozenset({"PASSWORD", "PASSWD", "PASS", "TOKEN", "SECRET", "KEY", "APIKEY", "CREDENTIAL",
                           "CREDENTIALS"})  # fmt: skip
# `user:password@` keeps the user (who connected is worth knowing); a lone `name@` may be a token: masked.
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?:(?P<user>[^/?#\s@:'\"]*):)?[^/?#\s@'\"]+@")
_KEY_PARAMETER = re.compile(
    r"(?P<name>[?&;](?:access_?token|token|api_?key|key|secret|sign|signature|password|passwd|auth)=)[^&#\s'\"]+",
    re.IGNORECASE,
)
# Shorter values would mask ordinary words and digits all over a message.
_SHORTEST_SECRET = 4
_declared: set[str] = set()


def secret_variable(name: str | None) -> str | None:
    """Mark an environment variable named by the configuration as holding a credential; returns the name."""
    if name:
        _declared.add(name)
    return name


def _names_a_secret(name: str) -> bool:
    words = name.upper().split("_")
    return any(w in _SECRET_WORDS or w.endswith("PASSWORD") for w in words) or (len(words) > 1 and words[-1] == "PWD")


def _url(value: str) -> SplitResult | None:
    try:
        return urlsplit(value) if "://" in value else None
    except ValueError:  # not a URL after all (a malformed port, an unclosed bracket)
        return None


def _secret_values(environ: Mapping[str, str]) -> list[str]:
    values = set()
    for name, value in environ.items():
        parts = _url(value)
        if name in _declared or _names_a_secret(name):
            values.add(value)
            # A URL that is a credential whole (a robot's webhook) carries its token in the path or
            # query, which libraries print without the host.
            if parts and parts.path.strip("/"):
                values.update({parts.path + (f"?{parts.query}" if parts.query else ""), parts.path})
        password = parts.password if parts and "@" in parts.netloc else None
        if password:  # a URL variable whose user-info holds a password
            values.update({password, unquote(password)})
    # Longest first, so a secret that contains another is masked whole.
    return sorted((v for v in values if len(v) >= _SHORTEST_SECRET), key=len, reverse=True)


def redact(text: object, environ: Mapping[str, str] | None = None) -> str:
    """`text` with every credential masked (see the module's docstring)."""
    out = _USERINFO.sub(lambda m: m["scheme"] + (f"{m['user']}:" if m["user"] else "") + MASK + "@", str(text))
    out = _KEY_PARAMETER.sub(lambda m: m["name"] + MASK, out)
    for value in _secret_values(os.environ if environ is None else environ):
        out = out.replace(value, MASK)
    return out


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without its user-info, and the (user, password) it held, for a client's basic auth: the
    credentials then travel in a header and never in a URL that a library may log."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.netloc.rsplit("@", 1)[1]
    bare = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return bare, (unquote(parts.username or ""), unquote(parts.password or ""))


@contextmanager
def scrubbed() -> Iterator[None]:
    """Let no exception leave with a credential in its message or in those it chains: such an exception
    is raised again as its own class (or RuntimeError) with the message masked and no chain, so the
    Dagster event log, which keeps every message of the chain, cannot store the credential."""
    try:
        yield
    except Exception as exc:
        chain = "".join(traceback.format_exception(exc))
        if redact(chain) == chain:
            raise
        cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        masked = redact(f"{exc} (from {type(cause).__name__}: {cause})" if cause else exc)
        try:
            clean = type(exc)(masked)
        except Exception:  # a class whose constructor wants other arguments
            clean = RuntimeError(masked)
        if hasattr(exc, "reason_code"):
            clean.reason_code = exc.reason_code  # type: ignore[attr-defined]
        raise clean from None
