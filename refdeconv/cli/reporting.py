"""What every auditing subcommand shares: the ``--rule`` and ``--out`` options, and the end of a
run (the table printed, ``report.json``, ``report.md`` and ``report.png`` written, the exit code).

Kept apart from :mod:`refdeconv.cli.app` so that the subcommands in their own modules
(:mod:`~refdeconv.cli.maps`, :mod:`~refdeconv.cli.torch_audit`) use them without importing the
module that imports them.
"""

from __future__ import annotations

DEFAULT_OUT = "refdeconv-audit"
RULE_NAMES = ("deconvnet", "gradient", "guided")  # cases.RULES, spelled here: parsing must not import TensorFlow


def finish(report, out) -> int:
    """Print ``report``'s table, write its files to ``out``; 0 when every case passes, else 1."""
    from ..conformance import report as reports

    print(reports.table(report))
    print("reports:", ", ".join(str(path) for path in reports.write(report, out)))
    return 0 if report.failed == 0 else 1


def add_report_options(parser) -> None:
    """``--rule`` and ``--out`` on ``parser``."""
    parser.add_argument("--rule", choices=RULE_NAMES, default="deconvnet",
                        help="the rule the implementation should follow (default: deconvnet)")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"where report.json, report.md and report.png go (default: ./{DEFAULT_OUT})")
