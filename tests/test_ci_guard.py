"""CI must never go green by skipping: a missing server skips a local run but fails under CI=true."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import require_server, server_reachable


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def test_missing_server_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not reachable"):
        require_server("a test server", "127.0.0.1", _closed_port())


def test_missing_server_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true forbids skipping"):
        require_server("a test server", "127.0.0.1", _closed_port())


def test_reachable_server_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert server_reachable("127.0.0.1", port)
        assert require_server("a listening socket", "127.0.0.1", port) is None  # neither skips nor fails
    assert not server_reachable("127.0.0.1", port)  # the same port once nothing listens: the guard would fail
