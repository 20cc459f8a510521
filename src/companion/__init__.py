"""Companion package: the logic behind the notebooks of the duality-gap book.

Modules are named after the papers' concepts; notebooks only narrate, call, check and plot.
"""

__version__ = "0.1.0"
