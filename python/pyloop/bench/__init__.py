"""``python -m pyloop.bench``: pyloop side by side with asyncio, uvloop and rloop.

Layout, one purpose per module:

- ``__main__``: the command line.
- ``loops``: the loops by name and how to build one.
- ``scenarios/``: the benchmarks (``micro``: the loop's machinery; ``io``: raw-socket
  and UDP echo; ``transports``: TCP and Unix echo; ``subprocesses``: spawning
  children and piping through them; ``web``: aiohttp).
- ``child``: runs one benchmark on one loop in a fresh interpreter.
- ``runner``: schedules the children, interleaving loops, and collects samples.
- ``stats``: medians, spreads and pyloop's ratios.
- ``memory``: bytes held by this process, the best way the platform allows.
- ``report`` and ``plot``: the markdown table, the JSON file and the bar chart.

Each benchmark runs in a fresh interpreter per loop per repetition, loops
interleaved, and the headline is a ratio measured within one run, because the
machines we run on are shared and noisy. Nothing here asserts speed.
"""
