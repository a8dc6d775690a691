"""API keys: who is asking, for which team, with which roles, at what rate.

A keys file is TOML::

    [[key]]
    token = "cards-7f3a..."        # sent as "Authorization: Bearer TOKEN" or "X-API-Key: TOKEN"
    team = "cards"                 # the only team this key may decide and reserve for
    roles = ["decide", "reserve"]  # decide, reserve, audit (full traces)
    rate = 200                     # requests a second (a burst of the same size); 0 = unlimited

``token_sha256 = "HEX"`` may stand in for ``token`` so the file holds no secret. Tokens are
compared in constant time and never logged; a key is named in logs by its team and the
first 8 hex digits of its token's SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import attrs

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib  # type: ignore[no-redef,import-not-found,unused-ignore]

from policylang.errors import PolicylangError

ROLES = ("decide", "reserve", "audit")
EVERY_TEAM = "*"


class KeysFileError(PolicylangError):
    """The keys file cannot be read or does not say what the service needs."""


@attrs.define(slots=True)
class Bucket:
    """A token bucket: ``rate`` a second, holding at most ``rate`` (and at least one)."""

    rate: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """0 when a request may go now, else the seconds to wait for the next token."""
        self.tokens = min(max(1.0, self.rate), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@attrs.define(slots=True)
class Key:
    """One caller: its team (or ``*`` for every team), roles and rate limit."""

    digest: str
    team: str
    roles: frozenset[str]
    rate: float = 0.0
    bucket: Bucket | None = None

    @property
    def label(self) -> str:
        """How logs name this key: never the token."""
        return f"{self.team}/{self.digest[:8]}"

    @property
    def audit(self) -> bool:
        return "audit" in self.roles

    def may_act_for(self, team: str) -> bool:
        return self.team in (EVERY_TEAM, team)

    def wait(self) -> float:
        """0 when within the rate limit, else the seconds until the next request may go."""
        if self.bucket is None:
            return 0.0
        return self.bucket.take(time.monotonic())


# The caller when the service runs without a keys file: every team, every role.
OPEN = Key("open", EVERY_TEAM, frozenset(ROLES))


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Keys:
    """The keys of a keys file, looked up by token."""

    def __init__(self, keys: Mapping[str, Key]) -> None:
        self._by_digest = dict(keys)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path, teams: frozenset[str] | None = None) -> Keys:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise KeysFileError(f"{path}: cannot be read ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise KeysFileError(f"{path}: not valid TOML ({exc})") from None
        entries = data.get("key")
        if not isinstance(entries, list) or not entries:
            raise KeysFileError(f"{path}: no [[key]] tables", hint='add [[key]] with token, team and roles')
        keys: dict[str, Key] = {}
        for number, entry in enumerate(entries, start=1):
            where = f"{path}: key {number}"
            if not isinstance(entry, dict):
                raise KeysFileError(f"{where}: must be a table")
            unknown = set(entry) - {"token", "token_sha256", "team", "roles", "rate", "name"}
            if unknown:
                raise KeysFileError(f"{where}: unknown field `{sorted(unknown)[0]}`",
                                    expected="token or token_sha256, team, roles, rate")
            token, hashed = entry.get("token"), entry.get("token_sha256")
            if isinstance(token, str) and token:
                key_digest = digest(token)
            elif isinstance(hashed, str) and len(hashed) == 64:
                key_digest = hashed.lower()
            else:
                raise KeysFileError(f"{where}: needs `token` (a text) or `token_sha256` (64 hex digits)")
            team = entry.get("team")
            if not isinstance(team, str) or not team:
                raise KeysFileError(f"{where}: needs `team`", hint='a team of the policies, or "*" for every team')
            if teams is not None and team != EVERY_TEAM and team not in teams:
                raise KeysFileError(f"{where}: `{team}` is not a team of the served policies",
                                    expected=", ".join(sorted(teams)))
            roles = entry.get("roles", ["decide"])
            if not isinstance(roles, list) or not all(r in ROLES for r in roles):
                raise KeysFileError(f"{where}: `roles` must be a list of {', '.join(ROLES)}")
            rate = entry.get("rate", 0)
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate < 0:
                raise KeysFileError(f"{where}: `rate` must be a number of requests a second (0 = unlimited)")
            if key_digest in keys:
                raise KeysFileError(f"{where}: the same token as an earlier key")
            bucket = Bucket(float(rate), max(1.0, float(rate)), time.monotonic()) if rate else None
            keys[key_digest] = Key(key_digest, team, frozenset(roles), float(rate), bucket)
        return cls(keys)

    def find(self, token: str) -> Key | None:
        wanted = digest(token)
        found = None
        for key_digest, key in self._by_digest.items():
            # compare against every key, in constant time, so timing tells nothing
            if hmac.compare_digest(key_digest, wanted):
                found = key
        return found

    def wait(self, key: Key) -> float:
        with self._lock:
            return key.wait()
