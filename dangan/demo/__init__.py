"""Sample data: synthetic property documents for the demo, tests and benchmarks."""
