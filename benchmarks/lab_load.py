"""The lab under load: N pages training the default Initialization run at once, H of them
hostile, against a lab server of its own; prints one line.

    .venv/bin/python benchmarks/lab_load.py --sessions 20 --seconds 20
    .venv/bin/python benchmarks/lab_load.py --sessions 50 --hostile 10 --seconds 40

It starts ``python -m fitscope.lab --max-sessions 64`` on a free port (its landscape
cache in a temporary folder), waits for its warm-up, trains one default run to the end
(the benchmark's own warm-up), then for ``--seconds``:

- N - H pages each train the Initialization page's default run over the websocket
  (two moons, 6 x 32 tanh, Xavier, Adam, 100 epochs, batch 64, probed), starting it
  again whenever it finishes;
- H hostile pages send what issue 16 found could exhaust the server: huge runs over
  the websocket (a 20 x 256 tanh net, batch 1, probes every step with 200 or 100
  histogram bins; the same net unprobed for as many steps as the budget allows; and
  probed at full batch, 3000 rows a step),
  ``/api/optimizers/race`` with 1500 ``run=`` values and with 2000 steps from a new
  start each time, ``/api/trajectories`` with a new seed each time, and the same
  requests cross-site (``Origin: http://evil.example``, ``Sec-Fetch-Site: cross-site``),
  each as soon as the last one is answered;
- ``/api/health`` is asked four times a second, by a process of its own (this one is
  busy reading the pages' updates, and its own delays must not count).

Then every page closes, and once the server reports no training and no queued
computation (or after 20 s) and 2 s more, its memory is read once more. The line printed::

    sessions=N hostile=H first_p99_ms=.. gap_p99_ms=.. health_p99_ms=..
    rss_start_mib=.. rss_peak_mib=.. rss_after_mib=..

(on one line): ``first`` is the time from sending ``start`` to the run's first point
(the initial weights' row), ``gap`` the time between two updates of a running training,
over the N - H normal pages; ``health`` the time to answer ``/api/health``; RSS is
summed over the server and its child processes (``/proc``): at the start (after the
warm-up), the peak (sampled twice a second) and after. What the hostile requests got
(status codes, refusals) goes to stderr, and so do how long the drain took, what was
still running after it and the bytes in the server's caches (``/api/health``).

Targets (issue 16): ``--sessions 20 --seconds 20``: first p99 < 1 s, health p99 < 100 ms;
``--sessions 50 --hostile 10 --seconds 40``: health p99 < 250 ms, peak RSS < 1.5 GiB,
after within 10% of start.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import websockets

DEFAULT_RUN = {  # the Initialization page's defaults (static/pages/init.html)
    "data": {"name": "moons", "n_samples": 1000, "noise": 0.2},
    "model": {"depth": 6, "width": 32, "activation": "tanh"},
    "init": {"scheme": "xavier_normal", "std": 0.01, "value": 0.5},
    "optimizer": {"name": "adam", "lr": 0.01},
    "budget": {"epochs": 100, "batch_size": 64, "seed": 0},
}
HUGE = {"model": {"depth": 20, "width": 256, "activation": "tanh"},
        "data": {"n_samples": 5000}, "budget": {"epochs": 500, "batch_size": 1}}
HOSTILE_RUNS = [  # each refused, or stopped by the budget
    {**HUGE, "observe": {"probe_every": 1, "histogram_bins": 200}},
    {**HUGE, "observe": {"probe_every": 1, "histogram_bins": 100}},
    {**HUGE, "budget": {"epochs": 8, "batch_size": 1}, "observe": {"probe_every": 1,
                                                                   "histogram_bins": 100}},
    {**HUGE, "budget": {"epochs": 8, "batch_size": 1}},  # 24,000 steps: the compute limit
    {**HUGE, "budget": {"epochs": 100, "batch_size": 0}, "observe": {"probe_every": 1}},
]
CROSS_SITE = {"origin": "http://evil.example", "sec-fetch-site": "cross-site"}
HEALTH_EVERY = 0.25
RSS_EVERY = 0.5
HEALTH_PROBER = """
import json, sys, time, urllib.request
url, seconds, every = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
until, times, bad = time.monotonic() + seconds, [], 0
while time.monotonic() < until:
    t = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            r.read()
    except OSError:
        bad += 1
    times.append(time.monotonic() - t)
    time.sleep(max(0.0, every - (time.monotonic() - t)))
print(json.dumps({"times": times, "bad": bad}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (MiB), from /proc."""
    children = collections.defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children[int(fields[1])].append(int(stat.parent.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status_code, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


class Client:
    """A minimal asyncio HTTP/1.1 GET client (one connection per request), so that a
    slow answer holds no thread of the benchmark."""

    def __init__(self, base: str):
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port

    async def get(self, path: str, params=None, headers: dict | None = None,
                  timeout: float = 30.0) -> Response:
        return await asyncio.wait_for(self._get(path, params, headers or {}), timeout)

    async def _get(self, path: str, params, headers: dict) -> Response:
        if params:
            path += "?" + urllib.parse.urlencode(params)
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            lines = [f"GET {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                     "Connection: close", *(f"{k}: {v}" for k, v in headers.items())]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        fields = dict(line.split(": ", 1) for line in header_lines if ": " in line)
        fields = {k.lower(): v for k, v in fields.items()}
        if fields.get("transfer-encoding") == "chunked":
            body = _unchunk(body)
        return Response(int(status_line.split()[1]), fields, body)


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size, _, rest = body.partition(b"\r\n")
        n = int(size.split(b";")[0], 16)
        if n == 0:
            break
        out, body = out + rest[:n], rest[n + 2:]
    return out


EVENT_TYPES = ("started", "state", "finished", "failed", "stopped", "reset", "error")


def event_types(text: str) -> set[str]:
    """The event types in an update, found without parsing it (this process reads
    hundreds of updates a second): only events have a ``"type"`` other than ``update``."""
    return {kind for kind in EVENT_TYPES if f'"type": "{kind}"' in text}


def p99_ms(values: list[float]) -> float:
    """The 99th percentile (nearest rank) in milliseconds; NaN when there is none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return 1000 * ordered[max(0, -(-99 * len(ordered) // 100) - 1)]


class Load:
    def __init__(self, base: str, until: float):
        self.base, self.ws_url, self.until = base, base.replace("http", "ws") + "/ws/train", until
        self.first: list[float] = []
        self.gaps: list[float] = []
        self.health: list[float] = []
        self.hostile: collections.Counter[str] = collections.Counter()
        self.problems: list[str] = []

    def left(self) -> float:
        return self.until - time.monotonic()

    async def page(self, config: dict, record: bool = True) -> None:
        """Train ``config`` again and again until the end; record first points and gaps."""
        async with websockets.connect(self.ws_url, max_size=2**24) as ws:
            while self.left() > 0:
                sent, last, got_first = time.monotonic(), None, False
                await ws.send(json.dumps({"type": "start", "config": config, "probe": True}))
                while self.left() > 0:
                    try:
                        text = await asyncio.wait_for(ws.recv(), timeout=self.left())
                    except TimeoutError:
                        break
                    now, kinds = time.monotonic(), event_types(text)
                    if not got_first and '"rows": []' not in text:
                        got_first = True
                        if record:
                            self.first.append(now - sent)
                    elif last is not None and record:
                        self.gaps.append(now - last)
                    last = now if got_first else None
                    if kinds & {"error", "failed", "stopped"}:
                        self.problems += [e.get("message", "") for e in json.loads(text)["events"]
                                          if e["type"] in ("error", "failed", "stopped")]
                        await asyncio.sleep(0.5)
                        break
                    if "finished" in kinds:
                        break
            await ws.send(json.dumps({"type": "reset"}))

    async def hostile_socket(self) -> None:
        """Huge runs, one after another, each as soon as the last is refused or stopped."""
        async with websockets.connect(self.ws_url, max_size=2**24) as ws:
            i = 0
            while self.left() > 0:
                config = HOSTILE_RUNS[i % len(HOSTILE_RUNS)]
                i += 1
                await ws.send(json.dumps({"type": "start", "config": config}))
                while self.left() > 0:
                    try:
                        m = json.loads(await asyncio.wait_for(ws.recv(), timeout=self.left()))
                    except TimeoutError:
                        break
                    ends = [e for e in m["events"]
                            if e["type"] in ("error", "failed", "finished", "stopped")]
                    if ends:
                        self.hostile[f"ws {ends[0]['type']}"] += 1
                        break
            await ws.send(json.dumps({"type": "reset"}))
        try:  # and a websocket from another site
            async with websockets.connect(self.ws_url, additional_headers=CROSS_SITE):
                self.hostile["ws cross-site accepted"] += 1
        except websockets.InvalidStatus as exc:
            self.hostile[f"ws cross-site {exc.response.status_code}"] += 1

    async def hostile_http(self, client: Client, k: int) -> None:
        """Costly GETs, each as soon as the last is answered; some of them cross-site."""
        many = [("run", "sgd")] * 1500
        i = 0
        while self.left() > 0:
            i += 1
            requests = [("race 1500 runs", "/api/optimizers/race", many, {}),
                        ("race 2000 steps", "/api/optimizers/race",
                         {"steps": 2000, "x0": (k * 7919 + i) % 1000 / 100 - 5}, {}),
                        ("trajectories new seed", "/api/trajectories",
                         {"seed": 1000 * k + i, "epochs": 10}, {}),
                        ("race cross-site", "/api/optimizers/race", {"steps": 2000}, CROSS_SITE)]
            name, path, params, headers = requests[i % len(requests)]
            try:
                r = await client.get(path, params=params, headers=headers,
                                     timeout=max(1.0, self.left() + 5))
                self.hostile[f"{name} {r.status_code}"] += 1
                if r.status_code == 503:
                    await asyncio.sleep(float(r.headers.get("retry-after", 1)))
            except (OSError, TimeoutError, ValueError) as exc:
                self.hostile[f"{name} {type(exc).__name__}"] += 1

    async def watch_health(self, seconds: float) -> None:
        """:data:`HEALTH_PROBER` in a process of its own for ``seconds``."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", HEALTH_PROBER, self.base + "/api/health", str(seconds),
            str(HEALTH_EVERY), stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        result = json.loads(out)
        self.health += result["times"]
        if result["bad"]:
            self.problems.append(f"health failed {result['bad']} times")


async def watch_rss(pid: int, until: float, samples: list[float]) -> None:
    while time.monotonic() < until:
        samples.append(await asyncio.to_thread(tree_rss_mib, pid))
        await asyncio.sleep(RSS_EVERY)


async def warm_up(base: str) -> None:
    """One default run to its end, so the start's memory includes what any run needs."""
    load = Load(base, time.monotonic() + 600)
    async with websockets.connect(load.ws_url, max_size=2**24) as ws:
        await ws.send(json.dumps({"type": "start", "config": DEFAULT_RUN, "probe": True}))
        while True:
            m = json.loads(await ws.recv())
            if any(e["type"] in ("finished", "failed", "error") for e in m["events"]):
                break


async def drain(client: Client, timeout: float = 20.0) -> dict:
    """Until the server reports no training and no queued computation (the hostile
    requests answered 202 leave theirs going), or ``timeout``; then 2 s more. The
    server's last ``/api/health``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = (await client.get("/api/health")).json()
        if health["trainings"] == 0 and not health.get("computing"):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(2.0)
    return (await client.get("/api/health")).json()


async def measure(proc: subprocess.Popen, base: str, sessions: int, hostile: int,
                  seconds: float) -> dict:
    pid = proc.pid
    await wait_warm(proc, base)
    await warm_up(base)
    client = Client(base)
    await drain(client, 10.0)
    rss_start = tree_rss_mib(pid)
    until = time.monotonic() + seconds
    load, rss = Load(base, until), [rss_start]
    tasks = [load.page(DEFAULT_RUN) for _ in range(sessions - hostile)]
    for k in range(hostile):
        tasks += [load.hostile_socket(), load.hostile_http(client, k)]
    await asyncio.gather(*tasks, load.watch_health(seconds), watch_rss(pid, until, rss))
    t0 = time.monotonic()
    health = await drain(client)
    rss_after = tree_rss_mib(pid)
    print(f"after: {time.monotonic() - t0:.1f} s of drain, {health['trainings']} trainings "
          f"and {health['computing']} computations left, caches "
          f"{json.dumps(health.get('cached_bytes'))} bytes", file=sys.stderr)
    if load.problems:
        print(f"problems: {collections.Counter(load.problems).most_common(5)}", file=sys.stderr)
    if load.hostile:
        print(f"hostile: {dict(sorted(load.hostile.items()))}", file=sys.stderr)
    print(f"first points: {len(load.first)}, updates: {len(load.gaps)}, health checks: "
          f"{len(load.health)}", file=sys.stderr)
    return {"first_p99_ms": p99_ms(load.first), "gap_p99_ms": p99_ms(load.gaps),
            "health_p99_ms": p99_ms(load.health), "rss_start_mib": rss_start,
            "rss_peak_mib": max([*rss, rss_after]), "rss_after_mib": rss_after}


def start_lab(port: int, cache: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fitscope.lab", "--port", str(port), "--no-browser",
         "--max-sessions", "64"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "FITSCOPE_CACHE": cache})


async def wait_warm(proc: subprocess.Popen, base: str, timeout: float = 300.0) -> None:
    deadline, client = time.monotonic() + timeout, Client(base)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the lab exited: {proc.stderr.read()}")
        try:
            if (await client.get("/api/health", timeout=5)).json()["warm"]:
                return
        except (OSError, TimeoutError, ValueError):
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("the lab did not warm up in time")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20, help="pages at once (1 to 64)")
    parser.add_argument("--hostile", type=int, default=0, help="of them, hostile")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long")
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= 64:
        parser.error(f"--sessions must be 1 to 64, got {args.sessions}")
    if not 0 <= args.hostile <= args.sessions:
        parser.error(f"--hostile must be 0 to --sessions ({args.sessions}), got {args.hostile}")
    if not args.seconds > 0:
        parser.error(f"--seconds must be positive, got {args.seconds}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="lab-load-") as cache:
        proc = start_lab(port, cache)
        try:
            result = asyncio.run(measure(proc, base, args.sessions, args.hostile,
                                         args.seconds))
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"sessions={args.sessions} hostile={args.hostile} "
          + " ".join(f"{k}={v:.0f}" for k, v in result.items()))


if __name__ == "__main__":
    main()
