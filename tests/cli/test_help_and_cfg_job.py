"""--help, --cfg job and user errors of every entry point, in-process (main(argv) and its SystemExit)."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from tests.cli.entry_points import ENTRY_POINTS, EntryPoint

IDS = [e.module.removesuffix(".__main__") for e in ENTRY_POINTS]


def run_main(entry: EntryPoint, argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        entry.main()(argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=IDS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_exits_0_and_names_every_top_level_key(entry, flag, capsys):
    code, out, _ = run_main(entry, [flag], capsys)
    assert code == 0
    summary, _, rest = out.partition("\n")
    command = entry.module.removesuffix(".__main__")
    assert summary.startswith(f"python -m {command} — ")
    assert f"Example:\n  python -m {command} " in rest
    listed = {line.split(":")[0].split(".")[0].strip() for line in rest.splitlines() if line.startswith("  ")}
    missing = {f.name for f in dataclasses.fields(entry.schema_class())} - listed
    assert not missing, f"--help does not name {missing}"


def test_help_shows_types_defaults_meanings_and_groups(capsys):
    from pretrain.train import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "  model: baichuan_13b, baichuan_1b, baichuan_7b, tiny*" in out  # groups, default marked
    assert "  deepspeed: zero0, zero1, zero2*, zero3, zero3_offload" in out
    # the default as composed from conf/ (tiny's hidden size, not the dataclass's), and the field's comment
    assert "  model.hidden_size: int = 64\n" in out
    assert "  train.precision: str = bf16  # bf16 | fp16 | fp32" in out


def test_help_keeps_the_comments_of_inherited_fields(capsys):
    from data_pipeline.train_tokenizer import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out  # SentencePieceOptions' fields, inherited by the tokenizer's config
    assert "  control_symbols: list[str] = ['<user>', '<assistant>']  # Ids no text encodes to" in out


def test_pipeline_help_lists_the_filter_sets(capsys):
    from data_pipeline.run import main

    with pytest.raises(SystemExit):
        main(["-h"])
    out = capsys.readouterr().out
    assert "  pipeline/filters@filters.zh: en, zh*" in out and "  pipeline/dedup@dedup: default*" in out


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=IDS)
def test_cfg_job_round_trips(entry, tmp_path, capsys):
    """The printed YAML, saved and passed back with --config-dir/--config-name, composes to the same values."""
    code, printed, _ = run_main(entry, ["--cfg", "job", *entry.valid_args], capsys)
    assert code == 0, capsys.readouterr().err
    (tmp_path / "job.yaml").write_text(printed, encoding="utf-8")
    code, again, _ = run_main(entry, [f"--config-dir={tmp_path}", "--config-name", "job", "--cfg=job"], capsys)
    assert code == 0
    assert yaml.safe_load(again) == yaml.safe_load(printed)
    assert not (tmp_path / "OUT").exists()  # nothing ran


def test_cfg_job_prints_composed_values_and_overrides_still_apply_to_a_saved_config(tmp_path, capsys):
    from pretrain.train import main

    with pytest.raises(SystemExit):
        main(["--cfg", "job", "model=baichuan_1b", "train.lr=1e-4"])
    printed = capsys.readouterr().out
    config = yaml.safe_load(printed)
    assert config["model"]["hidden_size"] == 2048 and config["train"]["lr"] == 1e-4
    (tmp_path / "job.yaml").write_text(printed)
    with pytest.raises(SystemExit):
        main(["-cd", str(tmp_path), "-cn", "job", "--cfg", "job", "train.lr=2e-4"])
    assert yaml.safe_load(capsys.readouterr().out)["train"]["lr"] == 2e-4


def test_cfg_job_under_a_launcher_prints_once_and_strips_local_rank(monkeypatch, capsys):
    from pretrain.train import main

    for rank, expect_output in (("1", False), ("0", True)):
        monkeypatch.setenv("RANK", rank)
        with pytest.raises(SystemExit) as exit_info:
            main(["--local_rank=1", "--cfg", "job", "--local_rank", "1", "model=tiny"])
        assert exit_info.value.code == 0
        assert bool(capsys.readouterr().out) is expect_output


@pytest.mark.parametrize("argv", [
    ["--cfg", "job", "train.precision=fp8"],  # validation
    ["--cfg", "job", "train.lrr=1"],  # unknown key
    ["--cfg", "hydra"],  # a --cfg we do not offer
    ["--bogus"],  # an unknown flag
    ["model=nope"],  # an unknown group option
])
def test_user_errors_are_one_line_and_exit_2(argv, capsys):
    from pretrain.train import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ")


def test_info_shows_search_path_and_groups(capsys):
    from data_pipeline.run import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--info"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "conf (primary config pipeline.yaml)" in out
    assert "pipeline_schema" in out and "pipeline/filters@filters.zh: en, zh (default zh)" in out


def test_a_non_ascii_value_needs_no_quotes(capsys):
    from pretrain.generate import main

    with pytest.raises(SystemExit):
        main(["--cfg", "job", "checkpoint=/模型/ckpt", "prompt=今天天气"])
    assert yaml.safe_load(capsys.readouterr().out)["prompt"] == "今天天气"
