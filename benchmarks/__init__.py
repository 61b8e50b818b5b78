"""Benchmarks (``make bench``): run outside the test suite, print tables, assert nothing."""
