"""Benchmarks (SPEC §8): ratios against a baseline measured in the same run, never timed tests."""

from ledger.core.logs import configure

configure("WARNING")
