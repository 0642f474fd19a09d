"""``fitscope lab``: options, defaults, loopback binding, the allow-list of hosts, the
URL printed and the budget's options."""

import sqlite3

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fitscope.lab import commands
from fitscope.lab.guard import HostCheck
from fitscope.lab.limits import Budget
from fitscope.study import Store
from tests.fuzz.harness import expect_rejected


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
    assert kw["ws_max_size"] == 1 << 20 and kw["ws_per_message_deflate"] is False
    assert app.state.sessions.max_sessions == 4
    assert any(m.cls is HostCheck for m in app.user_middleware)
    assert app.state.budget == Budget()
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


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.4", "example.com"])
def test_a_host_beyond_loopback_without_an_allow_list_exits_2_saying_why(served, host):
    expect_rejected(["lab", "--host", host, "--no-browser"],
                    f"--host {host} serves the lab beyond this machine", "--allow-host")
    assert served == []


def test_a_host_beyond_loopback_with_an_allow_list_warns_and_checks_hosts(cli, served):
    result = CliRunner().invoke(cli, ["lab", "--host", "0.0.0.0", "--allow-host", "lab.local",
                                      "--allow-host", "10.0.0.5", "--no-browser"])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "anyone who can reach port 8765" in result.output
    assert "http://127.0.0.1:8765/" in result.output
    assert "http://lab.local:8765/" in result.output
    app, kw = served[0]
    assert kw["host"] == "0.0.0.0"
    with TestClient(app, base_url="http://lab.local:8765") as c:
        assert c.get("/api/health").status_code == 200
        for host in ("lab.local:8765", "10.0.0.5", "127.0.0.1:8765", "localhost", "[::1]:8765"):
            assert c.get("/api/health", headers={"host": host}).status_code == 200, host
        for host in ("evil.example", "evil.example:8765", "lab.local.evil.example", ""):
            r = c.get("/api/health", headers={"host": host})
            assert r.status_code == 400, host


@pytest.mark.parametrize("host, url", [
    ("127.0.0.1", "http://127.0.0.1:8765/"), ("::1", "http://[::1]:8765/"),
    ("[::1]", "http://[::1]:8765/"), ("127.0.0.2", "http://127.0.0.2:8765/"),
    ("localhost", "http://localhost:8765/"),
])
def test_the_url_printed_opens_the_lab(cli, served, host, url):
    result = CliRunner().invoke(cli, ["lab", "--host", host, "--no-browser"])
    assert result.exit_code == 0, result.output
    assert f"fitscope lab at {url}" in result.output and "warning" not in result.output
    app, kw = served[0]
    assert kw["host"] == host.strip("[]")
    with TestClient(app, base_url=url.rstrip("/")) as c:  # its Host header: the URL's
        assert c.get("/api/health").status_code == 200
        assert c.get("/api/health", headers={"host": "evil.example"}).status_code == 400


def test_lab_url_of_wildcard_addresses_is_loopback():
    assert commands.lab_url("0.0.0.0", 80) == "http://127.0.0.1:80/"
    assert commands.lab_url("::", 9000) == "http://[::1]:9000/"
    assert commands.lab_url("fe80::1", 9000) == "http://[fe80::1]:9000/"


def test_budget_options_reach_the_server(cli, served):
    result = CliRunner().invoke(cli, ["lab", "--max-run-seconds", "5", "--max-probe-mb", "7",
                                      "--max-bins", "40", "--max-steps", "900",
                                      "--no-browser"])
    assert result.exit_code == 0, result.output
    app, _ = served[0]
    assert app.state.budget == Budget(5.0, 7.0, 40, 900)
    assert app.state.sessions.budget is app.state.budget
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        limits = c.get("/api/form").json()["limits"]
    assert limits["max_run_seconds"] == 5 and limits["max_probe_mb"] == 7
    assert limits["max_histogram_bins"] == 40 and limits["max_steps"] == 900


@pytest.mark.parametrize("args, name", [
    (["--port", "0"], "--port"), (["--port", "70000"], "--port"),
    (["--max-sessions", "0"], "--max-sessions"), (["--port", "http"], "--port"),
    (["--idle-timeout", "0"], "--idle-timeout"), (["--max-run-seconds", "0"], "--max-run-seconds"),
    (["--max-probe-mb", "-1"], "--max-probe-mb"), (["--max-bins", "1"], "--max-bins"),
    (["--max-bins", "500"], "--max-bins"), (["--max-steps", "0"], "--max-steps"),
    (["--allow-host", "http://x/"], "--allow-host"), (["--allow-host", ""], "--allow-host"),
])
def test_bad_options_exit_2_naming_the_option(served, args, name):
    expect_rejected(["lab", *args, "--no-browser"], name)
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


def test_the_lab_command_restarts_on_the_system_allocator(monkeypatch):
    """``fitscope lab`` (the console entry point) asks for glibc's malloc before it
    serves (fitscope.lab.memory.with_system_malloc); other commands do not."""
    import sys

    from fitscope import cli
    from fitscope.lab import memory

    calls: list[list[str]] = []
    monkeypatch.setattr(memory, "with_system_malloc", lambda: calls.append(list(sys.argv)))
    for argv in (["fitscope", "lab", "--help"], ["fitscope", "demo", "--help"]):
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit):
            cli.main()
    assert calls == [["fitscope", "lab", "--help"]]
