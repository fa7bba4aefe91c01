"""Benchmarks of client-portal-core: run with ``python -m benchmarks`` (or ``make bench``)."""
