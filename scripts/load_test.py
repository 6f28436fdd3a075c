"""50 concurrent requests against `swishpaint serve` on loopback: errors, p50/p95 latency, server peak memory.

    python scripts/load_test.py --requests 50 --queue 64 --out benchmarks/load.json

Starts the server itself (bundled model unless --model), sends a bounded number of requests to
127.0.0.1 only, and stops it. Peak memory is the server process's VmHWM from /proc.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from swishpaint.server.launch import running_server


def post_form(url: str, fields: dict[str, str], files: dict[str, tuple[str, bytes, str]], timeout: float) -> int:
    """POST multipart/form-data with the standard library; returns the HTTP status."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    for name, (filename, data, ctype) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=50)
    p.add_argument("--queue", type=int, default=64)
    p.add_argument("--model")
    p.add_argument("--sketch", default="examples/sketches/lucy.png")
    p.add_argument("--candidates", type=int, default=3)
    p.add_argument("--out", default="benchmarks/load.json")
    args = p.parse_args()
    serve_args = ["--queue", str(args.queue)] + (["--model", args.model] if args.model else [])
    with running_server(*serve_args, timeout=30) as server:
        sketch = Path(args.sketch).read_bytes()

        def one(_):
            t = time.perf_counter()
            code = post_form(server.url + "/api/colorize", {"candidates": str(args.candidates)},
                             {"sketch": ("s.png", sketch, "image/png")}, timeout=600)
            return code, time.perf_counter() - t

        start = time.perf_counter()
        with ThreadPoolExecutor(args.requests) as pool:
            results = list(pool.map(one, range(args.requests)))
        wall = time.perf_counter() - start
        with urllib.request.urlopen(server.url + "/api/health", timeout=10) as r:
            health = r.status
        peak_kb = next(int(line.split()[1]) for line in Path(f"/proc/{server.pid}/status").read_text().splitlines()
                       if line.startswith("VmHWM"))
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
