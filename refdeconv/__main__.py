"""``python -m refdeconv``: the command line of :mod:`refdeconv.cli`."""

from .cli import main

raise SystemExit(main())
