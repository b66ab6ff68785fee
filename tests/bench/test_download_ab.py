"""bench/download_ab.py: this checkout and the reference sender, one round of one download each."""

from __future__ import annotations

import pytest

from bench import download_ab


def test_one_round_reports_every_server_against_the_first(capsys):
    assert download_ab.main(["--rounds", "1", "--transfers", "1", "--servers", "raw-download"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "curl receiving, 1 rounds of 1 transfers; paired against pyre"
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert set(rows) == {"pyre", "raw-download"} and rows["pyre"][2] == "1.00x"
    assert all(float(mbs.replace(",", "")) > 0 and float(cpu) >= 0 for mbs, cpu, _ in rows.values())


@pytest.mark.parametrize("argv, message", [
    (["--servers", "nginx"], "unknown server(s) ['nginx']"),
    (["--build", "x=/nonexistent"], "is not a Pyre checkout"),
    (["--rounds", "0"], "must be >= 1"),
])
def test_bad_options_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        download_ab.main(argv)
    assert message in capsys.readouterr().err
