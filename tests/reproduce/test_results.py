"""``refdeconv.reproduce`` as a whole (issue 26): every study of :data:`STUDIES` runs in quick mode and
writes one entry per study under its key, with the claim, both settings, the measured numbers, the
checks and a verdict computed from them, and one PNG figure; ``run.json`` records the environment."""

import json

import numpy as np
import pytest

from refdeconv.reproduce import STUDIES, run, study
from refdeconv.reproduce.study import check, verdict

PNG = b"\x89PNG\r\n\x1a\n"
FIELDS = {"title", "citation", "claim", "original_setting", "setting", "quick", "seed", "measured", "checks",
          "held", "why", "figure"}


def test_one_entry_per_study_under_its_key(quick_run):
    _, results = quick_run
    assert list(results) == list(STUDIES)


@pytest.mark.parametrize("key", STUDIES)
def test_entry(quick_run, key):
    out, results = quick_run
    entry = results[key]
    assert set(entry) == FIELDS, f"{key}: fields {sorted(entry)}"
    assert entry["quick"] is True and entry["seed"] == 0
    for field in ("title", "citation", "claim", "original_setting", "setting"):
        assert isinstance(entry[field], str) and entry[field].strip(), f"{key}: empty {field}"
    assert entry["checks"], f"{key}: no check"
    for c in entry["checks"]:
        assert set(c) == {"claim", "held", "measured"} and isinstance(c["held"], bool) and c["measured"], c
    assert entry["held"] == verdict(entry["checks"])
    assert (entry["why"] == "") == (entry["held"] is True), f"{key}: a why exactly when a check did not hold"
    assert entry["figure"] == f"{key}.png" and (out / entry["figure"]).read_bytes()[:8] == PNG, entry["figure"]


def test_run_json_records_the_environment(quick_run):
    out, results = quick_run
    environment = json.loads((out / "run.json").read_text())
    assert environment["quick"] is True and environment["seed"] == 0
    assert set(environment["seconds"]) == set(results)
    assert environment["packages"]["tensorflow"] and environment["packages"]["scikit-learn"]


def test_verdict():
    yes, no = check("a", True, x=1), check("b", False, x=np.float64(2.0))
    assert verdict([yes, yes]) is True
    assert verdict([no]) is False
    assert verdict([yes, no]) == "partly"
    assert json.dumps(no) and no["measured"]["x"] == 2.0 and type(no["measured"]["x"]) is float


def test_unknown_study_is_refused(tmp_path):
    with pytest.raises(ValueError, match="studies: unknown study 'nope'"):
        run(tmp_path, quick=True, studies=["nope"])
    with pytest.raises(ValueError, match="studies"):
        study("kindermans")
    assert not (tmp_path / "results.json").exists()

