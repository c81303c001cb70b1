"""The command line and its user-facing extras: ``refdeconv audit|vectors|demo|explain|bench``
(:mod:`~refdeconv.cli.app`, :mod:`~refdeconv.cli.commands`), the demo model
(:mod:`~refdeconv.cli.demo`), the benchmark (:mod:`~refdeconv.cli.bench`) and figures
(:mod:`~refdeconv.cli.plot`). The top layer: nothing below imports it, and it imports
TensorFlow only after its arguments are parsed.
"""

from .app import main

__all__ = ["main"]
