"""Presenting results: console tables, HTML / Markdown / JSON reports, plots.

Reporting never computes economics: every number it shows is read from a
:class:`carbonlink.markets.SimulationResult` (or from an agreement check report).
"""
