"""What a run leaves: one table row per scenario printed and appended as a JSON line to
bench/results/<results file>, then the tables of the run (<output>.md, with each site row's
ratio to the ceiling's) and its latency plot (<output>.png).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def append(row: dict[str, Any], results: str) -> None:
    """Append the row to the results file and print it."""
    (RESULTS / results).parent.mkdir(parents=True, exist_ok=True)
    with (RESULTS / results).open("a") as out:
        out.write(json.dumps(row) + "\n")
    print(format_row(row), flush=True)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:
            return "-"
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


COLUMNS = {
    "fanout": [
        "subscribers", "received", "expected", "duplicates", "backwards",
        "p50_ms", "p99_ms", "max_ms", "cpu_per_delivery_us",
    ],
    "connections": [
        "opened", "held", "failed", "rss_per_stream_kb", "cpu_per_stream_ms", "idle_cpu_pct",
        "at10", "atN",
    ],
    "post": ["posters", "ok", "errors", "msgs_per_s", "p50_ms", "p99_ms", "cpu_per_post_ms"],
    "lobby": [
        "rooms", "messages_per_room", "all_unread", "unread_total", "p50_ms", "p99_ms",
        "cpu_per_request_ms",
    ],
    "userfanout": [
        "users", "rooms_per_user", "received", "expected", "duplicates", "backwards",
        "p50_ms", "p99_ms", "cpu_per_delivery_us", "room_stream_cpu_per_delivery_us",
        "net_cpu_per_delivery_us", "room_stream_net_cpu_per_delivery_us",
    ],
    "replay": ["clients", "missed", "exactly_once", "in_order", "duplicates", "p50_ms", "max_ms"],
    "search": ["query", "person_rooms", "requests", "results", "p50_ms", "p99_ms", "max_ms"],
    "search-index": [
        "messages", "rooms", "users", "insert_s", "build_s", "db_before_mb", "db_after_mb",
    ],
    "search-post": ["index", "posters", "ok", "p50_ms", "p99_ms", "cpu_per_post_ms"],
    "scaleout": [
        "processes", "subscribers", "rate", "offered_per_s", "delivered_per_s", "received",
        "expected", "duplicates", "backwards", "p50_ms", "p99_ms", "cpu_per_delivery_us",
        "server_cores", "client_cores",
    ],
    "overload": [
        "subscribers", "offered_per_s", "delivered_per_s", "posts_ok", "post_errors",
        "post_p99_ms", "p50_ms", "p99_ms", "max_ms", "duplicates", "backwards",
        "server_closes", "complete_streams", "rss_before_kb", "rss_peak_kb",
    ],
}  # fmt: skip


def columns(row: dict[str, Any]) -> list[str]:
    scenario = row["scenario"]
    if scenario.startswith("search"):
        return COLUMNS[scenario]
    for key in ("fanout", "connections", "replay", "overload", "lobby", "userfanout", "scaleout"):
        if scenario == key or (scenario.startswith("replay") and key == "replay"):
            return COLUMNS[key]
    return COLUMNS["post"]


def format_row(row: dict[str, Any]) -> str:
    parts = []
    for key in columns(row):
        value = row.get(key)
        if isinstance(value, dict):
            value = "/".join(fmt(v) for v in value.values())
        parts.append(f"{key}={fmt(value)}")
    return f"{row['scenario']:>16} {row['server']:>7}  " + " ".join(parts)


RATIO_KEYS = (
    "p50_ms", "p99_ms", "max_ms", "cpu_per_delivery_us", "rss_per_stream_kb",
    "cpu_per_stream_ms", "msgs_per_s", "cpu_per_post_ms", "idle_cpu_pct",
)  # fmt: skip


BASELINES = ("ceiling", "express")


def twin_of(
    row: dict[str, Any], group: list[dict[str, Any]], baseline: str
) -> dict[str, Any] | None:
    """The baseline's row of the same scenario and shape as the site's row, if any."""
    if row["server"] in BASELINES:
        return None
    for other in group:
        same = all(other.get(k) == row.get(k) for k in ("subscribers", "posters"))
        if other["server"] == baseline and other["scenario"] == row["scenario"] and same:
            return other
    return None


def markdown(rows: list[dict[str, Any]]) -> str:
    """One table per scenario; a site row gets its ratio to the ceiling's row of the same
    shape and to the Express row's (x ceiling / x express)."""
    out = []
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(columns(row)[0] + row["scenario"].rstrip("0123456789x"), []).append(row)
    for group in groups.values():
        cols = columns(group[0])
        out.append("| scenario | server | " + " | ".join(cols) + " |")
        out.append("|---" * (len(cols) + 2) + "|")
        for row in group:
            twins = [(b, twin_of(row, group, b)) for b in BASELINES]
            cells = []
            for key in cols:
                value = row.get(key)
                if isinstance(value, dict):
                    text = " / ".join(fmt(v) for v in value.values())
                else:
                    text = fmt(value)
                ratios = [
                    f"{ratio_text(value / twin[key])} {baseline}"
                    for baseline, twin in twins
                    if twin and key in RATIO_KEYS and twin.get(key)
                ]
                if ratios:
                    text += " (" + ", ".join(ratios) + ")"
                cells.append(text)
            out.append(f"| {row['scenario']} | {row['server']} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def ratio_text(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio >= 1 else f"{ratio:.2g}x"


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e .[bench]): no plot")
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for server, color in (("site", "tab:red"), ("ceiling", "tab:blue"), ("express", "tab:green")):
        data = sorted(
            (r for r in rows if r["scenario"] == "fanout" and r["server"] == server),
            key=lambda r: r["subscribers"],
        )
        if not data:
            continue
        xs = [r["subscribers"] for r in data]
        for key, style in (("p50_ms", ":"), ("p99_ms", "-"), ("max_ms", "--")):
            ax.plot(xs, [r[key] for r in data], style, color=color, marker="o",
                    label=f"{server} {key[:-3]}")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("subscribers in one room (5 messages/s)")
    ax.set_ylabel("delivery latency, ms (POST start to receipt)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def render(rows: list[dict[str, Any]], output: str) -> None:
    """Write the tables (<output>.md) and the plot (<output>.png) of one run's rows."""
    if not rows:
        return
    meta = rows[0]
    header = f"Run {meta['run']}, {meta['machine']}, stack {meta['stack']}, {meta['asgi']}"
    table = markdown(rows)
    (RESULTS / f"{output}.md").write_text(f"{header}\n\n{table}\n")
    print("\n" + header + "\n\n" + table)
    fanouts = any(r["scenario"] == "fanout" for r in rows)
    if fanouts and plot(rows, RESULTS / f"{output}.png", header):
        print(f"plot: bench/results/{output}.png")


def render_last_run(results: str, output: str) -> None:
    """Render the newest run found in the results file, without running anything."""
    with (RESULTS / results).open() as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    last = rows[-1]["run"]
    render([r for r in rows if r["run"] == last], output)
