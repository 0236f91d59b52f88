"""The benchmark: `python -m bench.run` (see README.md, "Benchmark").

run.py is the command line; servers.py starts and measures the site, the ceiling
(ceiling.py) and the profiler; client.py is the load client (streams, posters);
scenarios.py drives them; report.py prints and stores the rows, tables and plot. What the
tests have already (the SSE parser, the raw stream client, free ports, the database, process
measurements) comes from tests/live.py and tests/sse.py.
"""
