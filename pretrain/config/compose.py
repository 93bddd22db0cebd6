"""Turn command-line overrides into a validated `PretrainConfig`, or one clear line of error.

Composition (conf/pretrain.yaml + groups + overrides, without `@hydra.main`) and the command-line front end
(--help, --cfg job, the DeepSpeed launcher's `--local_rank`) are the shared ones in `plumbing`; this module
adds what is particular to training: the schema and its validation.
"""

from __future__ import annotations

from plumbing.command_line import CommandLine, strip_launcher_args
from plumbing.hydra_compose import PrimaryConfig, compose_typed, to_yaml
from pretrain.config.schema import PretrainConfig
from pretrain.config.validate import ConfigError, check_kernels_can_train, validate_config
from pretrain.finetune.init_weights import adopt_init_model

__all__ = ["ConfigError", "compose_config", "config_from_argv", "strip_launcher_args", "to_yaml",
           "training_command"]


def compose_config(overrides: list[str], config_name: str = "pretrain",
                   primary: PrimaryConfig | None = None) -> PretrainConfig:
    """Compose conf/<config_name>.yaml with overrides into a typed, validated config."""
    config = compose_typed(PretrainConfig, config_name, overrides, uses_conf_dir=True, primary=primary,
                           fix="check the key and its type in `python -m pretrain.train --help`")
    if config_name == "finetune" and not config.finetune.init_from:
        raise ConfigError("finetune.init_from is empty: fine-tuning needs the weights to start from — set "
                          "finetune.init_from=<a training checkpoint or a Hugging Face directory>")
    if config.finetune.init_from:  # a fine-tune: the weights decide the model's shape (and the tokenizer)
        config.model, config.data.tokenizer = adopt_init_model(config.model, config.data.tokenizer,
                                                               config.finetune.init_from)
    validate_config(config)
    return config


def validate_for_training(config: PretrainConfig) -> None:
    """validate_config ran in compose_config; training also needs kernels this machine's device can run."""
    check_kernels_can_train(config)


def training_command(prog: str, summary: str, example: str, config_name: str = "pretrain") -> CommandLine:
    """The front end of the commands that take the trainer's config (pretrain.train, pretrain.finetune,
    pretrain.distributed); `config_name` is the conf/ file whose defaults they start from."""
    return CommandLine(prog=prog, summary=summary, example=example, schema=PretrainConfig,
                       config_name=config_name, uses_conf_dir=True, validate=validate_for_training,
                       compose=lambda overrides, primary: compose_config(overrides, config_name, primary=primary))


def config_from_argv(argv: list[str] | None = None) -> PretrainConfig:
    """The training config from the command line, or exit (0 after --help/--cfg job, 2 on a bad config)."""
    return training_command("python -m pretrain.train", "pretrain a Baichuan model with DeepSpeed",
                            "model=baichuan_7b deepspeed=zero3 data=zh_en").parse(argv)
