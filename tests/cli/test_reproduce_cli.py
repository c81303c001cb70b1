"""``refdeconv reproduce`` (issue 26): it writes ``results.json`` and one figure per study it runs and
exits 0 whatever the studies find; a bad ``--study`` or a missing extra is one line and exit 2."""

import json
import sys

import pytest

from refdeconv.cli import main

pytest.importorskip("sklearn", reason="the reproduce extra is not installed")


def test_one_study_end_to_end(tmp_path, capsys):
    assert main(["reproduce", "--out", str(tmp_path), "--quick", "--study", "kindermans2018"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert list(results) == ["kindermans2018"]
    assert (tmp_path / results["kindermans2018"]["figure"]).is_file()
    out = capsys.readouterr().out
    assert "kindermans2018  claim held: yes" in out and "results.json" in out


def test_an_unknown_study_is_exit_2_and_one_line(tmp_path, capsys):
    assert main(["reproduce", "--out", str(tmp_path), "--study", "nope"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "refdeconv reproduce: error: --study: unknown study 'nope'; expected one of kindermans2017, kindermans2018, "
        "adebayo2018, sixt2020, nie2018, pointing_game"]
    assert not (tmp_path / "results.json").exists()


def test_a_missing_extra_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # what an install without the extra looks like
    assert main(["reproduce", "--out", str(tmp_path), "--quick", "--study", "kindermans2017"]) == 2
    err = capsys.readouterr().err
    assert 'needs sklearn for its digits dataset' in err and 'pip install "refdeconv[reproduce]"' in err


def test_an_out_that_is_a_file_or_cannot_be_made_is_named(tmp_path, capsys):
    (tmp_path / "file.txt").write_text("x")
    assert main(["reproduce", "--out", str(tmp_path / "file.txt"), "--quick"]) == 2
    assert capsys.readouterr().err.strip() == (f"refdeconv reproduce: error: --out: {tmp_path / 'file.txt'} exists "
                                               "and is not a folder")
    assert main(["reproduce", "--out", str(tmp_path / "file.txt" / "below"), "--quick"]) == 2
    assert "--out: cannot create the folder" in capsys.readouterr().err
