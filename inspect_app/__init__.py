"""Inspect: production-safety inspections, hazards and reports for a city."""

__version__ = "0.1.0"
