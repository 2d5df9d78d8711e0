"""Load and crash test of `genzoo serve` on 127.0.0.1 (docs/serve.md; the RESULTS.md section).

    PYTHONPATH=src python benchmarks/serve_load.py [--voters 50 --votes 20 --kill-after 400]

A server on tiny models (genzoo.serve.tiny) takes VOTERS concurrent simulated voters x VOTES arena
votes (each: a battle of two generations, then the vote) while two clients stream playground
generations. After KILL_AFTER acknowledged votes the server is killed with SIGKILL and restarted on the
same port; voters retry what failed (bounded). At the end the SQLite file is read: every acknowledged
vote must be there with its outcome, and no battle may have two votes. Every loop is bounded in
count and time (DEADLINE seconds); traffic goes only to 127.0.0.1.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

DEADLINE = 420.0  # seconds for the whole run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "genzoo", "serve", str(runs), "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):  # at most 60 s
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/models", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start within 60 s")


class Run:
    def __init__(self, base: str, deadline: float):
        self.base, self.deadline = base, deadline
        self.lock = threading.Lock()
        self.acked: dict[str, tuple[int, str]] = {}  # battle -> (vote id, outcome)
        self.latency: list[float] = []
        self.retries = self.generations = 0
        self.errors: list[str] = []

    def call(self, client: httpx.Client, path: str, body: dict, tries: list | None = None) -> httpx.Response | None:
        """POST with bounded retries across a server restart (connection errors only; at most
        3000 tries, 0.1-0.15 s apart, and never past the deadline)."""
        for attempt in range(3000):
            if tries is not None:
                tries.append(attempt)
            if time.monotonic() > self.deadline:
                return None
            try:
                return client.post(self.base + path, json=body, timeout=60)
            except httpx.TransportError:
                with self.lock:
                    self.retries += 1
                time.sleep(0.1 + 0.05 * random.random())
        return None

    def voter(self, n_votes: int, seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(headers={"Origin": self.base}) as client:
            client.headers["X-CSRF-Token"] = client.get(self.base + "/api/session").json()["csrf"]
            for i in range(n_votes):
                r = self.call(client, "/api/arena/battle", {"prompt": "def ", "seed": rng.randrange(1000),
                                                            "max_new_tokens": 4})
                if r is None or r.status_code != 200:
                    self.errors.append(f"battle: {None if r is None else r.text[:100]}")
                    continue
                battle, outcome = r.json()["battle"], rng.choice(["a", "b", "a", "tie", "both_bad"])
                t0, tries = time.perf_counter(), []
                r = self.call(client, "/api/arena/vote", {"battle": battle, "vote": outcome}, tries)
                dt = time.perf_counter() - t0
                if r is None or r.status_code != 200:
                    self.errors.append(f"vote: {None if r is None else r.text[:100]}")
                    continue
                v = r.json()
                with self.lock:
                    self.acked[battle] = (v["vote_id"], v["outcome"])
                    if len(tries) == 1:  # latency of votes answered at the first try (not across the restart)
                        self.latency.append(dt)

    def generator(self, stop: threading.Event) -> None:
        with httpx.Client(headers={"Origin": self.base}) as client:
            client.headers["X-CSRF-Token"] = client.get(self.base + "/api/session").json()["csrf"]
            for i in range(500):  # bounded
                if stop.is_set() or time.monotonic() > self.deadline:
                    return
                r = self.call(client, "/api/generate/text", {"model": "gpt-a", "prompt": "def ", "seed": i,
                                                            "max_new_tokens": 64})
                if r is not None and r.status_code == 200 and "event: done" in r.text:
                    with self.lock:
                        self.generations += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voters", type=int, default=50)
    ap.add_argument("--votes", type=int, default=20)
    ap.add_argument("--kill-after", type=int, default=400, help="acknowledged votes before SIGKILL (0: no kill)")
    args = ap.parse_args()
    from genzoo.serve.tiny import tiny_runs

    tmp = Path(tempfile.mkdtemp(prefix="serve_load_"))
    runs = tiny_runs(tmp / "runs")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    start = time.monotonic()
    run = Run(base, start + DEADLINE)
    server = start_server(runs, port)
    stop = threading.Event()
    threads = [threading.Thread(target=run.voter, args=(args.votes, i)) for i in range(args.voters)]
    gens = [threading.Thread(target=run.generator, args=(stop,)) for _ in range(2)]
    for t in threads + gens:
        t.start()
    killed_at = None
    while any(t.is_alive() for t in threads) and time.monotonic() < run.deadline:
        if args.kill_after and killed_at is None and len(run.acked) >= args.kill_after:
            killed_at = len(run.acked)
            server.send_signal(signal.SIGKILL)
            server.wait()
            server = start_server(runs, port)
        time.sleep(0.02)
    stop.set()
    for t in threads + gens:
        t.join(timeout=max(1.0, run.deadline - time.monotonic()))
    elapsed = time.monotonic() - start
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)

    db = sqlite3.connect(runs / "votes.sqlite")
    stored = {b: (i, o) for i, b, o in db.execute("SELECT id, battle_id, outcome FROM votes")}
    rows, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT battle_id) FROM votes").fetchone()
    lost = [b for b, v in run.acked.items() if stored.get(b) != v]
    lat = sorted(run.latency)
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [float("nan")] * 99
    print(f"| voters x votes | {args.voters} x {args.votes} = {args.voters * args.votes} |")
    print("| --- | --- |")
    print(f"| acknowledged votes | {len(run.acked)} |")
    print(f"| rows in votes.sqlite | {rows} ({distinct} distinct battles) |")
    print(f"| acknowledged votes missing or changed | {len(lost)} |")
    print(f"| duplicated votes (rows - distinct battles) | {rows - distinct} |")
    print(f"| stored but not acknowledged (cut by the kill) | {len(set(stored) - set(run.acked))} |")
    print(f"| vote latency p50 / p95 | {1000 * statistics.median(lat):.1f} ms / {1000 * q[94]:.1f} ms |")
    print(f"| SIGKILL + restart | after {killed_at} acknowledged votes; {run.retries} requests retried |")
    print(f"| playground generations alongside (64 tokens each) | {run.generations} |")
    print(f"| failed requests | {len(run.errors)} |")
    print(f"| wall time | {elapsed:.1f} s (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores) |")
    for e in run.errors[:5]:
        print("error:", e, file=sys.stderr)
    if lost or rows != distinct or len(run.acked) < args.voters * args.votes or run.errors:
        raise SystemExit("FAILED: lost, duplicated or unacknowledged votes")


if __name__ == "__main__":
    main()
