"""Topic matching, the password file and the ACL, read the way Mosquitto reads them.

The embedded broker reads the *same* ``passwd`` and ``acl`` files that
``broker.setup``/``write_auth`` write for Mosquitto, so switching brokers needs
no new credentials:

* ``passwd``: ``user:$7$iterations$salt_b64$hash_b64`` (PBKDF2-SHA512, what
  mosquitto_passwd 2.x writes); the older ``$6$salt$hash`` (salted SHA-512) too.
* ``acl``: ``user NAME`` starts a user's block; ``topic [read|write|readwrite|deny] T``
  grants that user (access defaults to readwrite); ``pattern [access] T`` applies
  to every user with ``%u`` (username) and ``%c`` (client id) substituted.
  ``topic`` lines before any ``user`` line are for anonymous clients, which
  this broker never admits. ``deny`` wins over any grant.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path

READ, WRITE = 1, 2
_ACCESS = {"read": READ, "write": WRITE, "readwrite": READ | WRITE, "deny": 0}


# ---- topics ---------------------------------------------------------------------
def valid_topic(topic: str) -> bool:
    return bool(topic) and "+" not in topic and "#" not in topic and len(topic.encode()) <= 65535


def valid_filter(flt: str) -> bool:
    if not flt:
        return False
    levels = flt.split("/")
    for i, lv in enumerate(levels):
        if "#" in lv and (lv != "#" or i != len(levels) - 1):
            return False
        if "+" in lv and lv != "+":
            return False
    return True


def split_shared(flt: str) -> tuple[str | None, str]:
    """``$share/group/f`` -> (group, f); anything else -> (None, flt). Raises ValueError if malformed."""
    if not flt.startswith("$share/"):
        return None, flt
    parts = flt.split("/", 2)
    if len(parts) < 3 or not parts[1] or "+" in parts[1] or "#" in parts[1] or not parts[2]:
        raise ValueError(f"malformed shared subscription {flt!r}")
    return parts[1], parts[2]


def matches(flt: str, topic: str) -> bool:
    """Does the topic filter match the topic name? (MQTT §4.7; ``$`` topics
    are not matched by a leading wildcard.)"""
    if topic.startswith("$") and flt[:1] in ("+", "#"):
        return False
    return _match_levels(flt.split("/"), topic.split("/"))


def _match_levels(f: list[str], t: list[str]) -> bool:
    for i, lv in enumerate(f):
        if lv == "#":
            return True
        if i >= len(t):
            return False
        if lv != "+" and lv != t[i]:
            return False
    return len(f) == len(t)


def filters_overlap(a: str, b: str) -> bool:
    """Is there a topic name both filters match? (How a subscription is checked
    against an ACL entry: like Mosquitto, a wildcard subscription is granted when
    some of its topics are readable, and every message is checked on delivery.)"""
    x, y = a.split("/"), b.split("/")
    for i in range(min(len(x), len(y))):
        if x[i] == "#" or y[i] == "#":
            return True
        if x[i] != y[i] and "+" not in (x[i], y[i]):
            return False
    rest = x[len(y):] or y[len(x):]
    return not rest or rest == ["#"]  # "a/#" also matches "a"


# ---- passwords ----------------------------------------------------------------
def check_password(password: str, hashed: str) -> bool:
    """Verify against a Mosquitto password-file hash (``$7$`` or ``$6$``)."""
    parts = hashed.split("$")
    try:
        if len(parts) == 5 and parts[1] == "7":
            salt, want = base64.b64decode(parts[3]), base64.b64decode(parts[4])
            got = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(parts[2]), len(want))
            return hmac.compare_digest(got, want)
        if len(parts) == 4 and parts[1] == "6":
            salt, want = base64.b64decode(parts[2]), base64.b64decode(parts[3])
            return hmac.compare_digest(hashlib.sha512(password.encode() + salt).digest(), want)
    except (ValueError, TypeError):
        return False
    return False


def read_password_file(path: Path) -> dict[str, str]:
    users: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and ":" in line:
            user, hashed = line.split(":", 1)
            users[user] = hashed
    return users


# ---- ACL --------------------------------------------------------------------------
@dataclass
class Acl:
    users: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # user -> [(access, topic)]
    patterns: list[tuple[int, str]] = field(default_factory=list)          # for everyone, with %u/%c

    @classmethod
    def parse(cls, text: str) -> "Acl":
        acl, current = cls(), None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            word, _, rest = line.partition(" ")
            rest = rest.strip()
            if word == "user":
                current = rest
                acl.users.setdefault(current, [])
            elif word in ("topic", "pattern"):
                access_word, _, topic = rest.partition(" ")
                if access_word in _ACCESS and topic.strip():
                    access, topic = _ACCESS[access_word], topic.strip()
                else:  # "topic T" means readwrite
                    access, topic = READ | WRITE, rest
                if word == "pattern":
                    acl.patterns.append((access, topic))
                elif current is not None:  # topics before any user are for anonymous clients
                    acl.users[current].append((access, topic))
        return acl

    @classmethod
    def load(cls, path: Path) -> "Acl":
        return cls.parse(path.read_text())

    def _entries(self, user: str, client_id: str) -> list[tuple[int, str]]:
        out = list(self.users.get(user, []))
        # Mosquitto skips substitution for ids that would widen the pattern.
        if not any(ch in user + client_id for ch in "+#/"):
            out += [(a, t.replace("%u", user).replace("%c", client_id)) for a, t in self.patterns]
        return out

    def allows(self, user: str, client_id: str, topic: str, access: int) -> bool:
        """May ``user`` read (receive) or write (publish) this topic name?"""
        entries = self._entries(user, client_id)
        if any(a == 0 and matches(t, topic) for a, t in entries):
            return False
        return any(a & access and matches(t, topic) for a, t in entries)

    def allows_subscribe(self, user: str, client_id: str, flt: str) -> bool:
        """A subscription is granted when some topic it matches is readable;
        each message is checked again on delivery."""
        return any(a & READ and filters_overlap(flt, t) for a, t in self._entries(user, client_id))
