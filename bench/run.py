"""The benchmark: start the site (and the bare asyncio ceiling), drive real HTTP and SSE
traffic at them on 127.0.0.1, print one table row per scenario and append it as a JSON line
to bench/results/results.jsonl, then plot latency against subscribers.

    .venv/bin/python -m bench.run                     # SQLite, one daphne process
    .venv/bin/python -m bench.run --stack postgres    # PostgreSQL + Redis, two site processes
    .venv/bin/python -m bench.run --stack postgres --scenarios scaleout   # one process, then two
    .venv/bin/python -m bench.run --quick             # smaller numbers, a minute or two
    .venv/bin/python -m bench.run --scenarios fanout,post

Everything it starts (daphne, the ceiling, a temporary SQLite database or PostgreSQL
database) it stops or drops on the way out. Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.report import render, render_last_run
from bench.scenarios import SCENARIOS, Bench
from bench.servers import (
    Ceiling,
    Express,
    Site,
    fd_limit,
    pin_self,
    raise_fd_limit,
    start_profilers,
)


async def amain(args: argparse.Namespace) -> int:
    raise_fd_limit()
    pin_self()
    workdir = Path(tempfile.mkdtemp(prefix="chat-bench-"))
    site = Site(workdir, args.stack)
    ceiling = Ceiling(workdir)
    express = Express(workdir) if args.express and Express.available() else None
    if args.express and express is None:
        print("bench: node (or npm) is missing: no Express row", flush=True)
    started = datetime.datetime.now(datetime.UTC)
    meta = {
        "run": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "stack": args.stack,
        "asgi": args.server,
        "quick": args.quick,
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
    }
    bench = Bench(args, site, ceiling, meta=meta, express=express)
    print(f"bench: {meta}; fd limit {fd_limit()}; logs in {workdir}", flush=True)
    profilers: list[subprocess.Popen[bytes]] = []
    try:
        ceiling.start()
        if express is not None:
            express.start()
        site.start(args.server)
        site.prepare(8)
        if args.profile:
            profilers = start_profilers(site, meta["run"])
        for name in args.scenarios:
            await getattr(bench, name)()
    finally:
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                profiler.wait(60)
        site.stop()
        ceiling.stop()
        if express is not None:
            express.stop()
        if not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)
    render(bench.rows, args.output)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="smaller numbers, shorter runs")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, from {','.join(SCENARIOS)}",
    )
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="daphne")
    parser.add_argument(
        "--no-express",
        dest="express",
        action="store_false",
        help="leave out the Express re-creation of the seed's design (bench/express/)",
    )
    parser.add_argument("--results", default="results.jsonl", help="file in bench/results/")
    parser.add_argument("--profile", action="store_true", help="py-spy the site processes")
    parser.add_argument(
        "--output", default="latest", help="name of the table (.md) and plot (.png) written"
    )
    parser.add_argument(
        "--render", action="store_true", help="only redraw the newest run of the results file"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the server logs")
    args = parser.parse_args()
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for name in args.scenarios:
        if name not in SCENARIOS:
            parser.error(f"unknown scenario {name!r}")
    if args.render:
        render_last_run(args.results, args.output)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
