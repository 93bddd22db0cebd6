import pytest
import torch

from pretrain.model import BaichuanForCausalLM, ModelConfig
from pretrain.model.flops import count_parameters

from .conftest import build, load_model_config, small_config


@pytest.mark.parametrize(
    ("name", "expected"), [("baichuan_7b", 7_000_559_616), ("baichuan_13b", 13_264_901_120)]
)
def test_released_parameter_counts_are_exact(name, expected):
    assert count_parameters(load_model_config(name)) == expected


def test_released_parameter_names_match_the_published_checkpoint():
    names = set(build(small_config()).state_dict())
    layer = {"self_attn.W_pack", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
             "input_layernorm", "post_attention_layernorm"}
    expected = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"}
    expected |= {f"model.layers.{i}.{n}.weight" for i in range(2) for n in layer}
    assert names == expected


@pytest.mark.parametrize("position", ["rope", "alibi"])
def test_forward_gives_logits_and_loss(position):
    model = build(small_config(position=position))
    ids = torch.randint(0, 97, (2, 12))
    assert model(ids).shape == (2, 12, 97)
    loss = model(ids, labels=ids)
    assert loss.dtype == torch.float32 and loss.ndim == 0
    assert 3.0 < loss.item() < 6.0  # ~ln(97) = 4.57 at init


def test_ignored_labels_do_not_count():
    model = build(small_config())
    ids = torch.randint(0, 97, (1, 10))
    labels = ids.clone()
    labels[:, 5:] = -100
    logits = model(ids)[:, :5].reshape(-1, 97)
    expected = torch.nn.functional.cross_entropy(logits.float(), ids[:, :5].reshape(-1))
    torch.testing.assert_close(model(ids, labels=labels), expected)
    assert model(ids, labels=torch.full_like(ids, -100)).item() == 0.0


def test_init_is_deterministic_given_the_seed_and_reset_parameters_reproduces_it():
    a, b, c = build(small_config(), seed=3), build(small_config(), seed=3), build(small_config(), seed=4)
    for (name, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(pa, pb), name
        if "norm" not in name:
            assert not torch.equal(pa, pc), name
    with torch.device("meta"):
        meta = BaichuanForCausalLM(small_config())
    meta.to_empty(device="cpu")
    torch.manual_seed(3)
    meta.reset_parameters()
    for name, tensor in meta.state_dict().items():
        assert torch.equal(tensor, a.state_dict()[name]), name
    assert a.lm_head.weight.std().item() == pytest.approx(0.02, rel=0.1)


def test_bad_config_value_names_the_field():
    with pytest.raises(ValueError, match="model.position"):
        BaichuanForCausalLM(small_config(position="sinusoidal"))
    with pytest.raises(ValueError, match="num_heads"):
        BaichuanForCausalLM(small_config(num_heads=5))


def test_tiny_config_builds_for_the_demo():
    cfg = load_model_config("tiny")
    assert (cfg.vocab_size, cfg.hidden_size, cfg.max_seq_len) == (2000, 64, 256)
    assert isinstance(cfg, ModelConfig)


def test_model_package_imports_no_deepspeed_hydra_or_flash():
    import subprocess
    import sys

    code = ("import sys, pretrain.model, pretrain.model.flops, pretrain.model.hf_layout; "
            "print(sorted(m for m in ('deepspeed', 'hydra', 'flash_attn', 'apex', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
