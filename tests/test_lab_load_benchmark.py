"""benchmarks/lab_load.py's own arithmetic and plumbing (the benchmark itself is run by
hand): the percentile, the process tree's memory, its HTTP client, its options."""

import asyncio
import importlib.util
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "lab_load.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("benchmark_lab_load", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_p99_is_the_nearest_rank(bench):
    assert bench.p99_ms([i / 1000 for i in range(1, 101)]) == pytest.approx(99)
    assert bench.p99_ms([0.5]) == 500
    assert bench.p99_ms([i / 1000 for i in range(1, 201)]) == pytest.approx(198)


def test_tree_rss_sums_the_process_and_its_children(bench):
    child = subprocess.Popen([sys.executable, "-c", ("x = bytearray(60 << 20); "
                                                      "import time; time.sleep(30)")])
    try:
        deadline = time.monotonic() + 20
        while bench.tree_rss_mib(child.pid) < 60 and time.monotonic() < deadline:
            time.sleep(0.1)
        alone = bench.tree_rss_mib(child.pid)
        assert alone >= 60
        own = next(int(line.split()[1]) / 1024 for line in
                   Path("/proc/self/status").read_text().splitlines()
                   if line.startswith("VmRSS:"))
        assert bench.tree_rss_mib(os.getpid()) >= own + alone - 5  # this test and its child
    finally:
        child.kill()
        child.wait()


def test_the_client_reads_status_headers_and_chunked_bodies(bench):
    async def serve_and_get():
        async def answer(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n: 1\r\n1\r\n}"
                         b"\r\n0\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await bench.Client(f"http://127.0.0.1:{port}").get("/x", {"a": 1})

    # in a thread of its own: a browser test's playwright may hold a running loop here
    with ThreadPoolExecutor(1) as pool:
        r = pool.submit(asyncio.run, serve_and_get()).result()
    assert r.status_code == 503 and r.headers["retry-after"] == "2" and r.json() == {"a": 1}


@pytest.mark.parametrize("args, message", [
    (["--sessions", "0"], "--sessions must be 1 to 64"),
    (["--sessions", "65"], "--sessions must be 1 to 64"),
    (["--sessions", "4", "--hostile", "5"], "--hostile must be 0 to --sessions (4)"),
    (["--seconds", "0"], "--seconds must be positive"),
])
def test_bad_options_exit_2(bench, args, message, capsys):
    with pytest.raises(SystemExit) as info:
        bench.main(args)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_event_types_are_found_in_the_text_of_an_update(bench):
    import json

    update = {"type": "update", "training": 3,
              "events": [{"type": "started", "config": {"optimizer": {"name": "adam"}}},
                         {"type": "finished", "state": "finished", "findings": []}],
              "rows": [], "view": {"state": "failed"}}
    assert bench.event_types(json.dumps(update)) == {"started", "finished"}
    assert bench.event_types(json.dumps({**update, "events": []})) == set()
