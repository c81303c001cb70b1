"""``refdeconv bench --frontier``: its report lines (the measurement itself is a benchmark, run by hand).

Covers: the lines name the frontier (shape, MB per target) or why none is used, the ratios to the
gradient floor (steady calls, the first apart), to today's path and to Xplique (or that Xplique is not installed).
"""

from refdeconv.cli.bench_frontier import report

ROW = {"model": "ResNet50", "frontier": {"used": True, "reason": "", "shapes": [(16, 16, 64)],
                                          "bytes_per_target": 65536},
       "dataset_s": 4.0, "dataset_first_s": 6.5, "floor_s": 40.0, "dataset_uncached_s": 35.0, "repeated_s": 0.5, "floor_128_s": 10.0,
       "worst_s": 10.0, "worst_uncached_s": 10.0, "worst_first": 1.25, "cold_s": 9.0, "cold_uncached_s": 8.0, "xplique_s": 40.0}


def test_the_report_gives_ratios_and_the_frontier():
    lines = report(ROW, 512)
    assert lines[0] == "ResNet50: frontier [(16, 16, 64)] (0.07 MB per target)"
    assert "= 0.100x the gradient floor" in lines[1] and "uncached 0.875x" in lines[1]
    assert lines[1].endswith("first call 6.50 s")
    assert "0.050x the floor" in lines[2] and lines[3].endswith("1.00x today's path (first call 1.25x)")
    assert lines[-1].endswith("refdeconv / Xplique = 0.100")


def test_without_a_frontier_or_xplique_it_says_why():
    row = {**ROW, "frontier": {"used": False, "reason": "too little work above the frontier"}, "xplique_s": None}
    lines = report(row, 512)
    assert lines[0] == "ResNet50: no frontier used: too little work above the frontier"
    assert lines[-1] == "  Xplique: not installed (pip install xplique), no comparison"
