"""The embedded broker's settings and logins, as amqtt takes them: listeners, the password table and the
role rules of :mod:`visioncast.broker.acl` as amqtt plugins (loaded by name). No I/O.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visioncast.broker.acl import Login, permits

try:  # amqtt is a declared dependency; the plugin classes must exist before the broker loads them by name
    from amqtt.contexts import Action
    from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise ImportError("the embedded broker needs amqtt: pip install 'amqtt>=0.11'") from exc


class PasswordAuthPlugin(BaseAuthPlugin):
    """amqtt auth plugin: a fixed user → password table (constant-time compare); anonymous when allowed."""

    @dataclass
    class Config:
        users: dict[str, str] = field(default_factory=dict)
        allow_anonymous: bool = False

    async def authenticate(self, *, session: Any) -> bool:
        if not session.username:
            return bool(self.config.allow_anonymous)
        expected = self.config.users.get(session.username)
        return expected is not None and same_password(expected, session.password or "")


def same_password(expected: str, given: str) -> bool:
    """Constant-time comparison (compare_digest refuses non-ASCII str such as 中文, so bytes)."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def login_role(logins: list[Login], anonymous: bool, username: str, password: str) -> str | None:
    """The role of a CONNECT's login ('board' for an anonymous client when allowed), None when refused."""
    if not username:
        return "board" if anonymous else None
    login = next((lg for lg in logins if lg.username == username), None)
    return login.role if login is not None and same_password(login.password, password) else None


class RoleTopicPlugin(BaseTopicPlugin):
    """amqtt topic plugin: :func:`visioncast.broker.acl.permits` for each publish and subscribe."""

    @dataclass
    class Config:
        roles: dict[str, str] = field(default_factory=dict)
        anonymous_role: str = ""
        command_filter: str = "visioncast/+/cmd"

    async def topic_filtering(self, *, session: Any = None, topic: str | None = None,
                              action: Any = None) -> bool:
        if session is None or topic is None or action == Action.RECEIVE:
            return True
        role = self.config.roles.get(session.username or "") or self.config.anonymous_role or None
        return permits(role, topic, self.config.command_filter, publish=action == Action.PUBLISH)


@dataclass
class EmbeddedSettings:
    """What the embedded broker needs: listeners, logins and their roles, limits."""

    host: str
    port: int
    ws_port: int
    logins: list[Login]
    anonymous: bool
    command_filter: str
    max_message_bytes: int
    tls: tuple[int, Path, Path] | None = None  # (port, certificate, key)
    max_connections: int = 256


def amqtt_config(s: EmbeddedSettings) -> dict[str, Any]:
    listeners: dict[str, Any] = {"default": {"type": "tcp", "bind": f"{s.host}:{s.port}"}}
    if s.ws_port:
        listeners["ws"] = {"type": "ws", "bind": f"{s.host}:{s.ws_port}"}
    if s.tls:
        listeners["tls"] = {"type": "tcp", "bind": f"{s.host}:{s.tls[0]}", "ssl": True,
                            "certfile": str(s.tls[1]), "keyfile": str(s.tls[2])}
    auth = f"{__name__}.{PasswordAuthPlugin.__name__}"
    topics = f"{__name__}.{RoleTopicPlugin.__name__}"
    return {"listeners": listeners, "plugins": {
        auth: {"users": {lg.username: lg.password for lg in s.logins}, "allow_anonymous": s.anonymous},
        topics: {"roles": {lg.username: lg.role for lg in s.logins},
                 "anonymous_role": "board" if s.anonymous else "", "command_filter": s.command_filter},
    }}
