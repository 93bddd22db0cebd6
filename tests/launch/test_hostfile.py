"""Hostfile validation, Slurm node-list expansion and generation."""

import pytest

from launch.hostfile import Host, HostfileError, expand_nodelist, generate_hostfile, main, parse_hostfile


def test_parse_accepts_comments_blank_lines_and_trailing_comments():
    text = "# cluster A\nnode01 slots=8\n\nnode02   slots=4  # half node\n"
    assert parse_hostfile(text) == [Host("node01", 8), Host("node02", 4)]


@pytest.mark.parametrize(("text", "message"), [
    ("node01 slots=8\nnode02 8\n", "hostfile:2: expected `<host> slots=<N>`"),
    ("node01 slots=8\nnode01 slots=8\n", "hostfile:2: duplicate host 'node01' (first on line 1)"),
    ("node01 slots=0\n", "hostfile:1: host 'node01' has slots=0"),
    ("node01 slots=-2\n", "hostfile:1: host 'node01' has slots=-2"),
    ("# nothing\n", "no hosts listed"),
])
def test_parse_rejects_with_a_one_line_error(text, message):
    with pytest.raises(HostfileError) as caught:
        parse_hostfile(text)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_expand_slurm_nodelist():
    assert expand_nodelist("node[01-04,07]") == ["node01", "node02", "node03", "node04", "node07"]
    assert expand_nodelist("a,b[8-10],c") == ["a", "b8", "b9", "b10", "c"]
    assert expand_nodelist("gpu[098-101]") == ["gpu098", "gpu099", "gpu100", "gpu101"]
    assert expand_nodelist("r[1-2]-n[1-2]") == ["r1-n1", "r1-n2", "r2-n1", "r2-n2"]
    for bad in ("node[01-04", "node]1[", "node[a-b]", "node[5-3]", ""):
        with pytest.raises(HostfileError):
            expand_nodelist(bad)


def test_generate_round_trips_through_the_parser():
    text = generate_hostfile(expand_nodelist("node[1-3]"), slots=8)
    assert text == "node1 slots=8\nnode2 slots=8\nnode3 slots=8\n"
    assert sum(h.slots for h in parse_hostfile(text)) == 24
    with pytest.raises(HostfileError, match="duplicate"):
        generate_hostfile(["a", "a"], slots=8)


def test_cli_check_and_generate(tmp_path, capsys):
    good = tmp_path / "hostfile"
    good.write_text("a slots=8\nb slots=8\n")
    assert main(["check", str(good)]) == 0
    assert capsys.readouterr().out == "ok: 2 host(s), 16 slot(s)\n"
    bad = tmp_path / "bad"
    bad.write_text("a slots=8\na slots=8\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "duplicate host 'a'" in err
    assert main(["check", str(tmp_path / "missing")]) == 2
    capsys.readouterr()
    slurm = {"SLURM_JOB_NODELIST": "node[07-08]", "SLURM_GPUS_ON_NODE": "4"}
    assert main(["generate"], environ=slurm) == 0
    assert capsys.readouterr().out == "node07 slots=4\nnode08 slots=4\n"
    out = tmp_path / "generated"
    assert main(["generate", "--nodes", "x,y", "--slots", "2", "--output", str(out)], environ={}) == 0
    assert out.read_text() == "x slots=2\ny slots=2\n"
    assert main(["generate", "--slots", "2"], environ={}) == 2
    assert "SLURM_JOB_NODELIST" in capsys.readouterr().err
