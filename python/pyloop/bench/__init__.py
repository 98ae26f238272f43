"""``python -m pyloop.bench``: pyloop side by side with asyncio, uvloop and rloop.

Each benchmark runs in a fresh interpreter per loop per repetition, loops
interleaved, and the headline is a ratio measured within one run, because
the machines we run on are shared and noisy. Nothing here asserts speed.
"""
