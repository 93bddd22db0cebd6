"""What a resume after a lost node may change in the config without being refused."""

from pretrain.checkpoint.config_diff import disallowed_changes


def test_straggler_thresholds_may_change_on_resume_but_the_model_may_not():
    saved = "train:\n  straggler:\n    fraction: 0.3\n    windows: 3\nmodel:\n  hidden_size: 64\n"
    assert disallowed_changes(saved, saved.replace("0.3", "0.5").replace("windows: 3", "windows: 5")) == []
    assert disallowed_changes(saved, saved.replace("64", "128")) == ["model.hidden_size: 64 -> 128"]
