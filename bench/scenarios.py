"""The scenarios, each run against the ceiling and the site (see README.md, "Benchmark").

fanout: N streams in one room get messages POSTed at a steady rate; connections: a ramp
to many idle streams; replay: clients reconnect with Last-Event-ID after missing messages;
post: posters with and without a fan-out going on; overload: more deliveries offered than
the process pushed in the fan-out, some streams not reading; lobby and userfanout: the
room list with unread counts, and the user stream (bench/userstream.py); search: a generated
history of 1,000,000 messages (bench/search_data.py), the index's build time and size, search
times for a person in 50 rooms, and POST latency with the index maintained and without.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench import report, userstream
from bench.client import Counter, Poster, Stream, close_streams, open_streams
from bench.servers import Ceiling, Express, Server, Site, pin_self
from tests.helpers import wait_until
from tests.live import ROOT, server_env

SCENARIOS = (
    "fanout",
    "mentions",
    "connections",
    "replay",
    "post",
    "overload",
    "lobby",
    "userfanout",
    "search",
    "scaleout",
)


async def settle(server: Server, max_secs: float = 30) -> None:
    """Wait until the server is idle (under 5% of a core over 0.5 s)."""
    deadline = time.monotonic() + max_secs
    while time.monotonic() < deadline:
        before = server.cpu()
        await asyncio.sleep(0.5)
        if server.cpu() - before < 0.025:
            return


# The scaleout scenario's posters.
POSTERS = 4


def client_cpu() -> float:
    """CPU seconds this process (the client) has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@dataclass
class Bench:
    args: argparse.Namespace
    site: Site
    ceiling: Ceiling
    rows: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    # The seed article's design (bench/express/), when node is here.
    express: Express | None = None

    @property
    def servers(self) -> list[Server]:
        """Every server a side-by-side scenario measures: the baselines, then the site."""
        baselines: list[Server] = [self.ceiling]
        if self.express is not None:
            baselines.append(self.express)
        return [*baselines, self.site]

    def record(self, row: dict[str, Any]) -> None:
        row = {**self.meta, **row}
        self.rows.append(row)
        report.append(row, self.args.results)

    async def lobby(self) -> None:
        await userstream.lobby(self)

    async def userfanout(self) -> None:
        await userstream.userfanout(self)

    def port(self, server: Server, i: int) -> int:
        return server.ports[i % len(server.ports)]

    async def fanout_run(
        self,
        server: Server,
        n: int,
        messages: int,
        rate: float,
        slug: str = "bench",
        during: Any = None,
        posters: int = 1,
    ) -> dict[str, Any]:
        """`n` streams, `messages` posts at `rate` a second. One poster posts them in turn
        (each waits for the one before); `posters` > 1 spreads them over that many posters,
        each on a process of the server in turn, as a proxy in front would."""
        counter = Counter()
        streams = [
            Stream(
                counter,
                self.port(server, i),
                slug,
                server.sessions[i % len(server.sessions)],
                keep_tags=(i == 0),
            )
            for i in range(n)
        ]
        opened = await open_streams(streams)
        await settle(server)
        pool = [
            Poster(self.port(server, j), server.sessions[j % len(server.sessions)])
            for j in range(posters)
        ]
        starts: dict[int, float] = {}
        statuses: list[int] = []
        cpu0, client0, t0 = server.cpu(), client_cpu(), time.monotonic()
        rss_peak = server.rss_kb()

        async def post_some(j: int) -> None:
            for k in range(j, messages, posters):
                due = t0 + k / rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                starts[k] = time.monotonic()
                body = {"body": f"m{k}"}
                statuses.append(await pool[j].post(f"/rooms/{slug}/messages/", body))

        async def post_all() -> None:
            await asyncio.gather(*(post_some(j) for j in range(posters)))

        posting = asyncio.create_task(post_all())
        extra = asyncio.create_task(during()) if during else None
        expected = opened * messages
        while not posting.done():
            await asyncio.sleep(0.25)
            rss_peak = max(rss_peak, server.rss_kb())
        await wait_until(lambda: counter.events >= expected, 15 + messages / rate)
        cpu, elapsed = server.cpu() - cpu0, time.monotonic() - t0
        client = client_cpu() - client0
        extra_result = await extra if extra else None
        for poster in pool:
            poster.close()
        by_seq = {seq: starts[k] for seq, k in streams[0].tags.items() if k in starts}
        latencies = [t - by_seq[seq] for s in streams for seq, t in s.received_at if seq in by_seq]
        close_streams(streams)
        await settle(server)
        received = sum(1 for s in streams for seq, _ in s.received_at if seq in by_seq)
        return {
            "subscribers": n,
            "opened": opened,
            "messages": messages,
            "rate": rate,
            "posts_ok": sum(1 for s in statuses if s == 201),
            "expected": expected,
            "received": received,
            "duplicates": counter.duplicates,
            "backwards": counter.backwards,
            "p50_ms": pct(latencies, 50) * 1000,
            "p99_ms": pct(latencies, 99) * 1000,
            "max_ms": max(latencies, default=float("nan")) * 1000,
            "cpu_s": cpu,
            # Cores busy from the first post until every delivery arrived.
            "server_cores": cpu / elapsed,
            "client_cores": client / elapsed,
            # What the posts achieved (the poster waits for each answer), not what was asked.
            "delivered_per_s": received / elapsed,
            "cpu_per_delivery_us": cpu / received * 1e6 if received else float("nan"),
            "rss_peak_kb": rss_peak,
            "during": extra_result,
        }

    async def fanout(self) -> None:
        sizes = [100, 1000] if self.args.quick else [100, 1000, 3000]
        messages = 20 if self.args.quick else 50
        for n in sizes:
            for server in self.servers:
                result = await self.fanout_run(server, n, messages, 5.0)
                self.record({"scenario": "fanout", "server": server.name, **result})

    async def scaleout(self) -> None:
        """What a second process adds (`bin/serve 2`): the same fan-out at rising post rates,
        from one site process, then from two, each pinned to a core of its own (PostgreSQL and
        Redis). Streams and posters are spread over the processes; four posters keep the
        rate up when a post takes longer than the time between two. The client may run on
        either core (it shares them with the second process); its CPU is recorded beside the
        servers'. The run's own site and ceiling stay up, idle, meanwhile."""
        if self.site.stack != "postgres":
            print("bench: scaleout runs on the PostgreSQL stack only (--stack postgres)")
            return
        cores = os.cpu_count() or 1
        n = 1000 if self.args.quick else 2000
        rates = [5.0, 10.0, 20.0] if self.args.quick else [5.0, 10.0, 15.0, 20.0, 30.0, 40.0]
        seconds = 5 if self.args.quick else 10
        os.sched_setaffinity(0, set(range(cores)))
        try:
            for processes in (1, 2):
                workdir = self.site.workdir / f"scaleout-{processes}"
                workdir.mkdir(exist_ok=True)
                site = Site(workdir, "postgres")
                site.start(self.site.server_cmd, cores=[i % cores for i in range(processes)])
                try:
                    site.prepare(8)
                    for rate in rates:
                        result = await self.fanout_run(
                            site, n, int(rate * seconds), rate, posters=POSTERS
                        )
                        self.record(
                            {
                                "scenario": "scaleout",
                                "server": "site",
                                "processes": processes,
                                "offered_per_s": n * rate,
                                **result,
                            }
                        )
                finally:
                    site.stop()
        finally:
            pin_self()

    async def connections(self) -> None:
        total = 2000 if self.args.quick else 10000
        for server in self.servers:
            counter = Counter()
            sessions = server.sessions
            streams = [
                Stream(counter, self.port(server, i), "bench", sessions[i % len(sessions)])
                for i in range(total)
            ]
            first = await open_streams(streams[:10])
            await settle(server)
            at10 = {
                "rss_kb": server.rss_kb(),
                "threads": server.threads(),
                "db_connections": server.db_connections(),
            }
            cpu0, t0 = server.cpu(), time.monotonic()
            rest = await open_streams(streams[10:], concurrency=200)
            ramp_secs = time.monotonic() - t0
            cpu = server.cpu() - cpu0
            await settle(server)
            held = sum(1 for s in streams if s.connected and s.status == 200)
            atn = {
                "rss_kb": server.rss_kb(),
                "threads": server.threads(),
                "db_connections": server.db_connections(),
            }
            # Idle: what the held streams cost with nothing posted, over two heartbeats
            # (rooms/stream/hub.py sends one every 15 s) in the full run.
            idle_secs = 15.0 if self.args.quick else 30.0
            cpu0 = server.cpu()
            await asyncio.sleep(idle_secs)
            idle_cpu_pct = (server.cpu() - cpu0) / idle_secs * 100
            close_streams(streams)
            await settle(server)
            opened = first + rest
            self.record(
                {
                    "scenario": "connections",
                    "server": server.name,
                    "target": total,
                    "opened": opened,
                    "held": held,
                    "failed": counter.failed,
                    "ramp_s": ramp_secs,
                    "cpu_per_stream_ms": cpu / max(1, rest) * 1000,
                    "rss_per_stream_kb": (atn["rss_kb"] - at10["rss_kb"]) / max(1, held - 10),
                    "idle_cpu_pct": idle_cpu_pct,
                    "at10": at10,
                    "atN": atn,
                }
            )

    async def post_burst(
        self, server: Server, posters: int, secs: float, slug: str = "quiet", suffix: str = ""
    ) -> dict[str, Any]:
        clients = [
            Poster(self.port(server, i), server.sessions[(i + 1) % len(server.sessions)])
            for i in range(posters)
        ]
        latencies: list[float] = []
        errors = 0
        cpu0 = server.cpu()
        end = time.monotonic() + secs

        async def loop(i: int, client: Poster) -> None:
            nonlocal errors
            k = 0
            while time.monotonic() < end:
                t = time.monotonic()
                body = f"p{i}-{k}{suffix}"
                status = await client.post(f"/rooms/{slug}/messages/", {"body": body})
                if status == 201:
                    latencies.append(time.monotonic() - t)
                else:
                    errors += 1
                k += 1

        await asyncio.gather(*(loop(i, c) for i, c in enumerate(clients)))
        cpu = server.cpu() - cpu0
        for client in clients:
            client.close()
        return {
            "posters": posters,
            "secs": secs,
            "ok": len(latencies),
            "errors": errors,
            "msgs_per_s": len(latencies) / secs,
            "p50_ms": pct(latencies, 50) * 1000,
            "p99_ms": pct(latencies, 99) * 1000,
            "cpu_per_post_ms": cpu / max(1, len(latencies)) * 1000,
        }

    async def post(self) -> None:
        secs = 5.0 if self.args.quick else 10.0
        n = 1000 if self.args.quick else 3000
        for server in self.servers:
            for posters in (1, 8):
                result = await self.post_burst(server, posters, secs)
                self.record({"scenario": "post", "server": server.name, **result})
                await settle(server)
            for posters in (1, 8):

                async def during(server: Server = server, posters: int = posters) -> Any:
                    await asyncio.sleep(1.0)
                    return await self.post_burst(server, posters, secs)

                fan = await self.fanout_run(
                    server, n, int(5 * (secs + 2)), 5.0, slug="bench", during=during
                )
                self.record(
                    {
                        "scenario": f"post+fanout{n}",
                        "server": server.name,
                        **fan.pop("during"),
                        "fanout": fan,
                    }
                )

    async def mentions(self) -> None:
        """The site's posts with a mention of another member in each, beside the same posts
        without one, in turns: plain, mention, mention, plain, so that a drift through the
        run (the database grows; one poster's run drifted by about 6% a turn) falls on both
        alike. (Plain, mention, plain, mention put the drift of one turn on the mentions.)"""
        secs = 5.0 if self.args.quick else 10.0
        someone = self.site.prepared_usernames[-1]
        plain, mention = ("post-plain", ""), ("post-mention", f" @{someone}")
        for posters in (1, 8):
            for turn, (scenario, suffix) in enumerate((plain, mention, mention, plain)):
                result = await self.post_burst(self.site, posters, secs, suffix=suffix)
                self.record({"scenario": scenario, "server": "site", "turn": turn, **result})
                await settle(self.site)

    async def current_seq(self, slug: str) -> int:
        """The room's newest event id, from a fresh stream's history answer."""
        import httpx

        cookie = f"sessionid={self.site.sessions[0].id}"
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.get(
                f"http://127.0.0.1:{self.site.ports[0]}/rooms/{slug}/messages/?limit=1",
                headers={"Cookie": cookie},
            )
            return int(response.json()["last_event_id"])

    async def post_many(self, slug: str, count: int) -> int:
        clients = [
            Poster(self.port(self.site, i), self.site.sessions[i % len(self.site.sessions)])
            for i in range(8)
        ]
        todo = iter(range(count))
        ok = 0

        async def loop(client: Poster) -> None:
            nonlocal ok
            for k in todo:
                if await client.post(f"/rooms/{slug}/messages/", {"body": f"r{k}"}) == 201:
                    ok += 1

        await asyncio.gather(*(loop(c) for c in clients))
        for client in clients:
            client.close()
        return ok

    async def catch_up(self, clients: int, missed: int) -> dict[str, Any]:
        site = self.site
        head = await self.current_seq("replay")
        posted = await self.post_many("replay", missed)
        target = head + posted
        await settle(site)
        counter = Counter()
        sessions = site.sessions
        streams = [
            Stream(counter, self.port(site, i), "replay", sessions[i % len(sessions)], last_id=head)
            for i in range(clients)
        ]
        cpu0 = site.cpu()
        opened = await open_streams(streams, concurrency=clients)
        await wait_until(
            lambda: all(s.last_id is not None and s.last_id >= target for s in streams),
            30 + missed / 500,
        )
        cpu = site.cpu() - cpu0
        await asyncio.sleep(0.3)  # anything extra (a duplicate) would arrive now
        want = list(range(head + 1, target + 1))
        times = []
        exact = in_order = 0
        for s in streams:
            ids = [seq for seq, _ in s.received_at]
            if sorted(ids) == want:
                exact += 1
            if ids == want:
                in_order += 1
            done = [t for seq, t in s.received_at if seq == target]
            if done:
                times.append(done[0] - s.opened_at)
        close_streams(streams)
        await settle(site)
        return {
            "clients": clients,
            "missed": missed,
            "posted": posted,
            "opened": opened,
            "exactly_once": exact,
            "in_order": in_order,
            "duplicates": counter.duplicates,
            "backwards": counter.backwards,
            "p50_ms": pct(times, 50) * 1000,
            "max_ms": max(times, default=float("nan")) * 1000,
            "cpu_s": cpu,
        }

    async def replay(self) -> None:
        result = await self.catch_up(100, 100)
        self.record({"scenario": "replay100x100", "server": "site", **result})
        big = 2000 if self.args.quick else 10000
        result = await self.catch_up(1, big)
        self.record({"scenario": f"replay1x{big}", "server": "site", **result})

    async def overload(self) -> None:
        site = self.site
        n = 1000 if self.args.quick else 3000
        slow_n = 30
        per_delivery = [
            r["cpu_per_delivery_us"]
            for r in self.rows
            if r["scenario"] == "fanout" and r["server"] == "site"
        ]
        # What the process can push per second, from this run's largest fan-out if any.
        capacity = 1e6 / per_delivery[-1] if per_delivery else 20000.0
        rate = min(200.0, 3 * capacity / n)
        secs = 5.0 if self.args.quick else 10.0
        messages = int(rate * secs)
        head = await self.current_seq("overload")
        counter = Counter()
        sessions = site.sessions
        streams = [
            Stream(
                counter, self.port(site, i), "overload", sessions[i % len(sessions)], resume=True
            )
            for i in range(n)
        ]
        opened = await open_streams(streams)
        await settle(site)
        slow = streams[:slow_n]
        for s in slow:
            s.pause_reading()
        rss0 = rss_peak = site.rss_kb()
        cpu0, t0 = site.cpu(), time.monotonic()
        posters = [
            Poster(self.port(site, i), site.sessions[i % len(site.sessions)]) for i in range(8)
        ]
        free: asyncio.Queue[Poster] = asyncio.Queue()
        for p in posters:
            free.put_nowait(p)
        statuses: list[int] = []
        post_latency: list[float] = []
        starts: dict[int, float] = {}

        async def one(k: int, poster: Poster) -> None:
            t = time.monotonic()
            starts[k] = t
            status = await poster.post("/rooms/overload/messages/", {"body": f"m{k}"})
            statuses.append(status)
            if status == 201:
                post_latency.append(time.monotonic() - t)
            free.put_nowait(poster)

        tasks = []
        for k in range(messages):
            await asyncio.sleep(max(0.0, t0 + k / rate - time.monotonic()))
            poster = await free.get()
            tasks.append(asyncio.create_task(one(k, poster)))
            rss_peak = max(rss_peak, site.rss_kb())
        await asyncio.gather(*tasks)
        offered_secs = time.monotonic() - t0
        for s in slow:
            s.resume_reading()
        target = head + sum(1 for s in statuses if s == 201)

        def caught_up() -> bool:
            return all(s.last_id is not None and s.last_id >= target for s in streams)

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not caught_up():
            await asyncio.sleep(0.25)
            rss_peak = max(rss_peak, site.rss_kb())
        cpu = site.cpu() - cpu0
        await asyncio.sleep(0.3)
        for p in posters:
            p.close()
        starts_by_seq: dict[int, float] = {}
        # The overload room only has these messages: seq = head + 1 + k in commit order,
        # which can differ from k; map through the frames one stream kept.
        latencies = []
        complete = 0
        want = set(range(head + 1, target + 1))
        for s in streams:
            if {seq for seq, _ in s.received_at} >= want:
                complete += 1
        tagged = Stream(
            counter, site.ports[0], "overload", sessions[0], last_id=head, keep_tags=True
        )
        await tagged.connect()
        await wait_until(lambda: tagged.last_id is not None and tagged.last_id >= target, 30)
        tagged.close()
        for seq, k in tagged.tags.items():
            if k in starts:
                starts_by_seq[seq] = starts[k]
        for s in streams:
            latencies += [
                t - starts_by_seq[seq] for seq, t in s.received_at if seq in starts_by_seq
            ]
        close_streams(streams)
        await settle(site)
        self.record(
            {
                "scenario": "overload",
                "server": "site",
                "subscribers": n,
                "opened": opened,
                "slow": slow_n,
                "capacity_per_s": capacity,
                "offered_per_s": rate * n,
                "rate": rate,
                "messages": messages,
                "offered_secs": offered_secs,
                "posts_ok": sum(1 for s in statuses if s == 201),
                "post_errors": sum(1 for s in statuses if s != 201),
                "post_p99_ms": pct(post_latency, 99) * 1000,
                "delivered_per_s": counter.events / max(0.001, offered_secs),
                "p50_ms": pct(latencies, 50) * 1000,
                "p99_ms": pct(latencies, 99) * 1000,
                "max_ms": max(latencies, default=float("nan")) * 1000,
                "duplicates": counter.duplicates,
                "backwards": counter.backwards,
                "server_closes": counter.server_closes,
                "reconnects": counter.reconnects,
                "complete_streams": complete,
                "rss_before_kb": rss0,
                "rss_peak_kb": rss_peak,
                "cpu_s": cpu,
            }
        )

    async def search_data(self, *args: str) -> dict[str, Any]:
        """Run bench/search_data.py on the site's database; its JSON answer."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.search_data",
            *args,
            cwd=ROOT,
            env=server_env(self.site.database.env),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(process.communicate(), 3600)
        assert process.returncode == 0, f"bench.search_data {args} failed"
        result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        return result

    async def search(self) -> None:
        import httpx

        messages = 100_000 if self.args.quick else 1_000_000
        data = await self.search_data("fill", "--messages", str(messages), "--person", "bench0")
        queries = data.pop("queries")
        self.record({"scenario": "search-index", "server": "site", **data})
        await settle(self.site)
        requests = 60 if self.args.quick else 200
        # bench0 may read 50 rooms: 6 public and 40 private generated ones, the 4 of prepare().
        headers = {"Cookie": f"sessionid={self.site.sessions[0].id}", "Accept": "application/json"}
        url = f"http://127.0.0.1:{self.site.ports[0]}/search/"
        async with httpx.AsyncClient(timeout=60, headers=headers) as client:
            for kind, texts in queries.items():
                for q in texts:  # once each, unmeasured: the first read of its pages
                    assert (await client.get(url, params={"q": q})).status_code == 200
                latencies, found = [], []
                for k in range(requests):
                    t = time.monotonic()
                    response = await client.get(url, params={"q": texts[k % len(texts)]})
                    latencies.append(time.monotonic() - t)
                    assert response.status_code == 200, response.text
                    found.append(len(response.json()["results"]))
                self.record(
                    {
                        "scenario": "search",
                        "server": "site",
                        "query": kind,
                        "person_rooms": data["person_rooms"],
                        "requests": requests,
                        "results": sum(found) / len(found),
                        "p50_ms": pct(latencies, 50) * 1000,
                        "p99_ms": pct(latencies, 99) * 1000,
                        "max_ms": max(latencies) * 1000,
                    }
                )
        # POSTs with the index maintained and without, side by side: rounds alternate, so
        # that a busy machine weighs on both alike (on PostgreSQL bringing the column back
        # rewrites the table, 30 s or so each time: fewer rounds there).
        secs = 3.0 if self.args.quick else 5.0
        order = ["on", "off"] * (5 if self.site.stack == "sqlite" else 3)
        state = "on"
        rounds: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
        for wanted in order:
            if wanted != state:
                await self.search_data("index", wanted)
                state = wanted
            await settle(self.site)
            result = await self.post_burst(self.site, 1, secs)
            rounds[wanted].append(result)
            self.record({"scenario": "search-post", "server": "site", "index": wanted, **result})
        if state == "off":
            await self.search_data("index", "on")
        for wanted, results in rounds.items():
            self.record(
                {
                    "scenario": "search-post",
                    "server": "site",
                    "index": f"{wanted} (median of rounds)",
                    "posters": 1,
                    "ok": sum(r["ok"] for r in results),
                    "p50_ms": sorted(r["p50_ms"] for r in results)[len(results) // 2],
                    "p99_ms": sorted(r["p99_ms"] for r in results)[len(results) // 2],
                    "cpu_per_post_ms": sorted(r["cpu_per_post_ms"] for r in results)[
                        len(results) // 2
                    ],
                }
            )
