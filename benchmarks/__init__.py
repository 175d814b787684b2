"""National-scale benchmark: import, rebuild, commands over HTTP and queries, each with its baseline.

Run `python -m benchmarks --scale S --out FILE.json`; see benchmarks/RESULTS.md for the figures.
"""
