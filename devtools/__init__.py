"""Demo and test helpers: the synthetic hospital generator and the demo universe server.

Not part of the pipeline: `make run`, the tests and the benchmarks use it.
"""
