"""50 concurrent requests against `swishpaint serve` on loopback: errors, p50/p95 latency, server peak memory.

    python scripts/load_test.py --requests 50 --queue 64 --out benchmarks/load.json

Starts the server itself (bundled model unless --model), sends a bounded number of requests to
127.0.0.1 only, and stops it. Peak memory is the server process's VmHWM from /proc.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=50)
    p.add_argument("--queue", type=int, default=64)
    p.add_argument("--model")
    p.add_argument("--sketch", default="examples/sketches/lucy.png")
    p.add_argument("--candidates", type=int, default=3)
    p.add_argument("--out", default="benchmarks/load.json")
    args = p.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "swishpaint", "serve", "--port", str(port), "--queue", str(args.queue)]
    server = subprocess.Popen(cmd + (["--model", args.model] if args.model else []), stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(url + "/api/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        sketch = Path(args.sketch).read_bytes()

        def one(_):
            t = time.perf_counter()
            r = httpx.post(url + "/api/colorize", files={"sketch": ("s.png", sketch, "image/png")},
                           data={"candidates": str(args.candidates)}, timeout=600)
            return r.status_code, time.perf_counter() - t

        start = time.perf_counter()
        with ThreadPoolExecutor(args.requests) as pool:
            results = list(pool.map(one, range(args.requests)))
        wall = time.perf_counter() - start
        health = httpx.get(url + "/api/health").status_code
        peak_kb = next(int(line.split()[1]) for line in Path(f"/proc/{server.pid}/status").read_text().splitlines()
                       if line.startswith("VmHWM"))
    finally:
        server.terminate()
        server.wait(10)
    ok = sorted(t for code, t in results if code == 200)
    codes = {}
    for code, _ in results:
        codes[str(code)] = codes.get(str(code), 0) + 1
    report = {"requests": args.requests, "queue": args.queue, "candidates": args.candidates, "status_codes": codes,
              "errors": args.requests - len(ok), "p50_s": statistics.median(ok) if ok else None,
              "p95_s": ok[min(len(ok) - 1, int(0.95 * len(ok)))] if ok else None, "wall_s": wall,
              "server_peak_rss_mb": peak_kb / 1024, "health_after": health, "sketch": args.sketch}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {}
    data[f"queue{args.queue}"] = report
    Path(args.out).write_text(json.dumps(data, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
