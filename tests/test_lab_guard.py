"""Who may talk to the lab: requests a browser sends for another site are refused on
/api/ and /ws/, and with an allow-list every request must name a loopback host or an
allowed name (DNS rebinding)."""

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from fitscope.lab.app import create_app
from fitscope.lab.guard import cross_site, host_name, is_loopback, url_host
from fitscope.lab.work import WorkQueue


@pytest.fixture(scope="module")
def client():
    """The lab, its race and comparisons answered in one piece (no 202: a first race
    loads plotly's figure code; tests/test_lab_work.py checks the 202s)."""
    with TestClient(create_app(work=WorkQueue(within=600.0))) as c:
        yield c


COSTLY = ["/api/optimizers/race?steps=5", "/api/landscape/quadratic",
          "/api/overfitting/nearest-neighbour?n_samples=50", "/api/runs", "/api/form",
          "/api/trajectories/progress"]
FOREIGN = [{"sec-fetch-site": "cross-site"}, {"sec-fetch-site": "same-site"},
           {"origin": "http://evil.com"}, {"origin": "null"},
           {"origin": "http://testserver.evil.com"}, {"origin": "http://testserver:81"},
           {"origin": "http://evil.com", "sec-fetch-site": "same-origin"}]


@pytest.mark.parametrize("path", COSTLY)
@pytest.mark.parametrize("headers", FOREIGN)
def test_api_requests_from_another_site_are_403(client, path, headers):
    r = client.get(path, headers=headers)
    assert r.status_code == 403, (path, headers, r.text)
    assert "another site" in r.json()["detail"]


@pytest.mark.parametrize("headers", [{}, {"sec-fetch-site": "same-origin"},
                                     {"sec-fetch-site": "none"}, {"origin": "http://testserver"},
                                     {"origin": "https://testserver",
                                      "sec-fetch-site": "same-origin"}])
def test_api_requests_from_the_lab_itself_or_no_browser_pass(client, headers):
    assert client.get("/api/optimizers/race?steps=5", headers=headers).status_code == 200


def test_pages_open_from_links_on_other_sites(client):
    r = client.get("/init", headers={"sec-fetch-site": "cross-site", "origin": "http://a.b"})
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]


@pytest.mark.parametrize("headers", FOREIGN)
def test_the_websocket_refuses_pages_of_other_sites(client, headers):
    with (pytest.raises(WebSocketDisconnect) as info,
          client.websocket_connect("/ws/train", headers=headers) as ws):
        ws.receive_text()
    assert info.value.code == 1008


def test_hosts_are_loopback_or_allowed():
    with TestClient(create_app(allowed_hosts=["lab.local"]), base_url="http://127.0.0.2:8765") as c:
        for host in ("127.0.0.2:8765", "127.0.0.1", "localhost:1", "LOCALHOST", "[::1]:8765",
                     "lab.local", "Lab.Local:8765"):
            assert c.get("/api/health", headers={"host": host}).status_code == 200, host
        for host in ("evil.example", "lab.local.evil.example", "127.0.0.1.evil.example",
                     "10.0.0.1", "[::2]:8765", ""):
            r = c.get("/api/health", headers={"host": host})
            assert r.status_code == 400 and "--allow-host" in r.json()["detail"], host
        assert c.get("/", headers={"host": "evil.example"}).status_code == 400
        with (pytest.raises(WebSocketDisconnect) as info,
              c.websocket_connect("/ws/train", headers={"host": "evil.example"}) as ws):
            ws.receive_text()
        assert info.value.code == 1008
        with c.websocket_connect("/ws/train", headers={"host": "127.0.0.2:8765",
                                                       "origin": "http://127.0.0.2:8765"}) as ws:
            ws.send_text('{"type": "step"}')
            assert "no training" in ws.receive_json()["events"][0]["message"]


def test_only_loopback_names_without_an_allow_list():
    with TestClient(create_app(allowed_hosts=[]), base_url="http://localhost:8765") as c:
        assert c.get("/api/health").status_code == 200
        assert c.get("/api/health", headers={"host": "lab.local"}).status_code == 400


@pytest.mark.parametrize("header, name", [
    ("127.0.0.1:8765", "127.0.0.1"), ("[::1]:8765", "::1"), ("[::1]", "::1"), ("::1", "::1"),
    ("Lab.Example:80", "lab.example"), ("lab.example", "lab.example"), ("", ""),
])
def test_host_name(header, name):
    assert host_name(header) == name


def test_url_host_brackets_ipv6_only():
    assert url_host("::1") == "[::1]" and url_host("[::1]") == "[::1]"
    assert url_host("127.0.0.2") == "127.0.0.2" and url_host("lab.local") == "lab.local"


def test_loopback_names():
    assert is_loopback("127.0.0.2") and is_loopback("LocalHost") and is_loopback("[::1]")
    assert not is_loopback("localhost.evil.com") and not is_loopback("0.0.0.0")


def test_cross_site_says_why():
    assert cross_site({"sec-fetch-site": "cross-site"}) == "Sec-Fetch-Site: cross-site"
    assert cross_site({"origin": "http://evil.com", "host": "127.0.0.1:8765"}) == \
        "Origin: http://evil.com"
    assert cross_site({"origin": "http://127.0.0.1:8765", "host": "127.0.0.1:8765"}) is None
    assert cross_site({}) is None
