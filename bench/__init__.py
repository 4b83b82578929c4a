"""Benchmarks: run by their own commands (``python -m bench.check``), never by the test suite."""
