"""``fitscope lab``: options, defaults, loopback binding and the host check."""

import sqlite3

import pytest
import typer
from starlette.middleware.trustedhost import TrustedHostMiddleware
from typer.testing import CliRunner

from fitscope.lab import commands
from fitscope.study import Store


@pytest.fixture
def cli():
    app = typer.Typer()
    app.command()(lambda: None)  # a second command, so `lab` stays a subcommand
    commands.register(app)
    return app


@pytest.fixture
def served(monkeypatch):
    """Capture what uvicorn would run instead of serving."""
    calls = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.setattr("webbrowser.open", lambda url: calls.append(("browser", url)))
    monkeypatch.setattr("torch.set_num_threads", lambda n: None)
    monkeypatch.setattr("sys.setswitchinterval", lambda s: None)
    return calls


def test_defaults_bind_loopback_on_8765_with_four_sessions(cli, served):
    result = CliRunner().invoke(cli, ["lab", "--no-browser"])
    assert result.exit_code == 0, result.output
    app, kw = served[0]
    assert kw["host"] == "127.0.0.1" and kw["port"] == 8765
    assert kw["ws_max_size"] == 1 << 20
    assert app.state.sessions.max_sessions == 4
    assert any(m.cls is TrustedHostMiddleware for m in app.user_middleware)
    assert "http://127.0.0.1:8765/" in result.output


def test_options_reach_the_server(cli, served, tmp_path):
    Store(tmp_path / "s.db").close()
    result = CliRunner().invoke(cli, ["lab", "--port", "9001", "--max-sessions", "20",
                                      "--idle-timeout", "60", "--store", str(tmp_path / "s.db"),
                                      "--no-browser"])
    assert result.exit_code == 0, result.output
    app, kw = served[0]
    assert kw["port"] == 9001 and app.state.sessions.max_sessions == 20
    assert app.state.sessions.idle_seconds == 60 and app.state.store == tmp_path / "s.db"


def test_a_missing_store_exits_2(cli, served, tmp_path):
    result = CliRunner().invoke(cli, ["lab", "--store", str(tmp_path / "none.db"),
                                      "--no-browser"])
    assert result.exit_code == 2 and "--store: no such store" in result.output
    assert served == [] and not (tmp_path / "none.db").exists()


def test_an_explicit_host_is_bound_without_a_host_check(cli, served):
    result = CliRunner().invoke(cli, ["lab", "--host", "0.0.0.0", "--no-browser"])
    assert result.exit_code == 0, result.output
    app, kw = served[0]
    assert kw["host"] == "0.0.0.0"
    assert not any(m.cls is TrustedHostMiddleware for m in app.user_middleware)


@pytest.mark.parametrize("args, name", [
    (["--port", "0"], "--port"), (["--port", "70000"], "--port"),
    (["--max-sessions", "0"], "--max-sessions"), (["--port", "http"], "--port"),
    (["--idle-timeout", "0"], "--idle-timeout"),
])
def test_bad_options_exit_2_naming_the_option(cli, served, args, name):
    result = CliRunner().invoke(cli, ["lab", *args, "--no-browser"])
    assert result.exit_code == 2
    assert name in result.output
    assert served == []


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.8.0.1", True), ("localhost", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", False), ("192.168.1.4", False), ("example.com", False),
])
def test_is_loopback(host, loopback):
    assert commands.is_loopback(host) is loopback


def test_a_file_that_is_not_a_store_exits_2_unchanged(cli, served, tmp_path):
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    before = other.read_bytes()
    result = CliRunner().invoke(cli, ["lab", "--store", str(other), "--no-browser"])
    assert result.exit_code == 2 and "is not a fitscope store" in result.output
    assert str(other) in result.output.replace("\n", "")
    assert served == [] and other.read_bytes() == before
