"""Synthetic CMS machine-readable files for tests, benchmarks and the demo universe.

`model` makes fictional hospitals and their chargemaster items (real-looking codes,
payers with several plans, prices with wide cross-hospital spreads); one writer per layout
turns them into files (`tall`, and the other layouts beside it).
"""
