"""Load: 20 pages training at once for 30 seconds against one real lab server."""

import asyncio
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import websockets
from lab_harness import lab_server

SESSIONS = 20
SECONDS = 30.0
WINDOW = 5.0  # every page must get updates in every window of this length
CONFIG = {"data": {"n_samples": 1000}, "model": {"depth": 4, "width": 32},
          "budget": {"epochs": 500}}


async def page(url: str, until: float) -> dict:
    """One page: train (again whenever a run ends) until ``until``; log every update."""
    log = {"updates": [], "rows": 0, "problems": [], "runs": 0}
    async with websockets.connect(url, max_size=2**22) as ws:
        async def start():
            log["runs"] += 1
            await ws.send(json.dumps({"type": "start", "config": CONFIG, "probe": True}))

        await start()
        while time.monotonic() < until:
            try:
                text = await asyncio.wait_for(ws.recv(), timeout=until - time.monotonic())
            except TimeoutError:
                break
            m = json.loads(text)
            log["updates"].append(time.monotonic())
            log["rows"] += len(m["rows"])
            for e in m["events"]:
                if e["type"] in ("error", "failed", "stopped"):
                    log["problems"].append(e)
                elif e["type"] == "finished":
                    await start()
        await ws.send(json.dumps({"type": "reset"}))
    return log


async def watch(server, until: float) -> tuple[list[float], list[float]]:
    """Every half second: the server's RSS (MiB) and how long /api/health takes (s)."""
    rss, latency = [], []
    while time.monotonic() < until:
        rss.append(server.rss_mib())
        t = time.monotonic()
        await asyncio.to_thread(server.health)
        latency.append(time.monotonic() - t)
        await asyncio.sleep(0.5)
    return rss, latency


async def load(server) -> tuple[list[dict], list[float], list[float]]:
    url = server.url.replace("http", "ws") + "/ws/train"
    until = time.monotonic() + SECONDS
    *logs, (rss, latency) = await asyncio.gather(*[page(url, until) for _ in range(SESSIONS)],
                                                 watch(server, until))
    return logs, rss, latency


@pytest.mark.slow
def test_twenty_pages_train_for_thirty_seconds():
    with lab_server("--max-sessions", str(SESSIONS)) as server:
        idle_rss = server.rss_mib()
        t0 = time.monotonic()
        # In a thread of its own: playwright's sync API (the browser fixture of other tests
        # in this session) keeps an event loop running in the main thread.
        with ThreadPoolExecutor(1) as pool:
            logs, rss, latency = pool.submit(asyncio.run, load(server)).result()
        assert server.health()["trainings"] == 0 or _drains(server)
    for i, log in enumerate(logs):
        assert log["problems"] == [], (i, log["problems"])
        assert log["rows"] > 0
        # updates keep flowing: every window after the first holds one
        for w in range(1, int(SECONDS // WINDOW)):
            lo, hi = t0 + w * WINDOW, t0 + (w + 1) * WINDOW
            assert any(lo <= t < hi for t in log["updates"]), (i, w)
    half = len(rss) // 2
    print(f"\n{SESSIONS} pages x {SECONDS:.0f} s: server RSS idle {idle_rss:.0f} MiB, peak "
          f"{max(rss):.0f} MiB, first half max {max(rss[:half]):.0f}, second half max "
          f"{max(rss[half:]):.0f}; updates per page "
          f"{min(len(g['updates']) for g in logs)}..{max(len(g['updates']) for g in logs)}, "
          f"epochs per page {min(g['rows'] for g in logs)}..{max(g['rows'] for g in logs)}; "
          f"/api/health answered in {statistics.median(latency) * 1000:.0f} ms (median), "
          f"{max(latency) * 1000:.0f} ms (max)")
    assert statistics.median(latency) < 0.5  # the server stays responsive
    assert max(rss) < idle_rss + 600  # bounded: 20 small models, their data and probes
    assert max(rss[half:]) < max(rss[:half]) * 1.25  # and not still growing


def _drains(server, timeout: float = 15.0) -> bool:
    """The server stops every training once its page has gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.health()["trainings"] == 0:
            return True
        time.sleep(0.2)
    return False
