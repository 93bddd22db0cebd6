"""HF export/import: the llama layout loads in transformers with equal logits; the baichuan layout and the
released Baichuan layout (W_pack, .bin files) read back into identical models."""

import json

import pytest
import torch

from pretrain.export import main
from pretrain.model import BaichuanForCausalLM
from pretrain.weights import export_state_dict, load_hf_checkpoint

from .conftest import build, small_config


def test_llama_export_loads_in_transformers_with_equal_logits(tmp_path):
    transformers = pytest.importorskip("transformers")
    cfg = small_config(vocab_size=211, hidden_size=64, num_heads=4, num_layers=3, rope_theta=500000.0)
    model = build(cfg)
    export_state_dict(cfg, model.state_dict(), "llama", tmp_path, dtype=torch.float32)
    hf = transformers.LlamaForCausalLM.from_pretrained(tmp_path, torch_dtype=torch.float32).eval()
    ids = torch.randint(0, 211, (2, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = (hf(ids).logits - model(ids)).abs().max().item()
    assert diff < 1e-4
    assert sum(p.numel() for p in hf.parameters()) == sum(p.numel() for p in model.parameters())


def test_llama_layout_refuses_alibi(tmp_path):
    cfg = small_config(position="alibi")
    with pytest.raises(ValueError, match="format=baichuan"):
        export_state_dict(cfg, build(cfg).state_dict(), "llama", tmp_path)


@pytest.mark.parametrize(("fmt", "position"), [("baichuan", "rope"), ("baichuan", "alibi"), ("llama", "rope")])
def test_export_then_import_gives_the_same_model(tmp_path, fmt, position):
    cfg = small_config(position=position)
    model = build(cfg)
    tokenizer = tmp_path / "sp.model"
    tokenizer.write_bytes(b"not really a sentencepiece model")
    out = export_state_dict(cfg, model.state_dict(), fmt, tmp_path / "hf", str(tokenizer), max_shard_bytes=20_000)
    assert (out / "model.safetensors.index.json").is_file()  # small shards force the sharded form
    loaded_cfg, state_dict, tokenizer_path = load_hf_checkpoint(out)
    assert loaded_cfg.position == position and loaded_cfg.num_layers == cfg.num_layers
    assert tokenizer_path and open(tokenizer_path, "rb").read() == tokenizer.read_bytes()
    assert state_dict.keys() == model.state_dict().keys()
    for name, tensor in model.state_dict().items():
        assert torch.equal(state_dict[name], tensor), name


def released_13b_style_config(cfg) -> dict:
    """config.json as shipped with Baichuan-13B-Base (no max_position_embeddings: ALiBi)."""
    return {"architectures": ["BaichuanForCausalLM"], "model_type": "baichuan", "hidden_size": cfg.hidden_size,
            "intermediate_size": cfg.intermediate_size, "num_attention_heads": cfg.num_heads,
            "num_hidden_layers": cfg.num_layers, "vocab_size": cfg.vocab_size, "model_max_length": 4096,
            "rms_norm_eps": 1e-6, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
            "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_cache": True}


def test_import_reads_the_released_baichuan_layout_from_bin_files(tmp_path):
    cfg = small_config(position="alibi", num_heads=5, hidden_size=40)
    gen = torch.Generator().manual_seed(0)
    h, i, v = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    released = {"model.embed_tokens.weight": torch.randn(v, h, generator=gen),
                "model.norm.weight": torch.rand(h, generator=gen), "lm_head.weight": torch.randn(v, h, generator=gen)}
    for n in range(cfg.num_layers):
        p = f"model.layers.{n}."
        released |= {p + "self_attn.W_pack.weight": torch.randn(3 * h, h, generator=gen),
                     p + "self_attn.o_proj.weight": torch.randn(h, h, generator=gen),
                     p + "mlp.gate_proj.weight": torch.randn(i, h, generator=gen),
                     p + "mlp.up_proj.weight": torch.randn(i, h, generator=gen),
                     p + "mlp.down_proj.weight": torch.randn(h, i, generator=gen),
                     p + "input_layernorm.weight": torch.rand(h, generator=gen),
                     p + "post_attention_layernorm.weight": torch.rand(h, generator=gen)}
    half = len(released) // 2
    items = list(released.items())
    torch.save(dict(items[:half]), tmp_path / "pytorch_model-00001-of-00002.bin")
    torch.save(dict(items[half:]), tmp_path / "pytorch_model-00002-of-00002.bin")
    (tmp_path / "config.json").write_text(json.dumps(released_13b_style_config(cfg)))
    loaded_cfg, state_dict, _ = load_hf_checkpoint(tmp_path)
    assert (loaded_cfg.position, loaded_cfg.num_heads, loaded_cfg.max_seq_len) == ("alibi", 5, 4096)
    model = BaichuanForCausalLM(loaded_cfg)
    model.load_state_dict(state_dict, strict=True)
    assert torch.equal(model.model.layers[1].self_attn.W_pack.weight, released["model.layers.1.self_attn.W_pack.weight"])

    del state_dict["model.layers.1.mlp.up_proj.weight"]
    torch.save(state_dict, tmp_path / "pytorch_model-00002-of-00002.bin")
    (tmp_path / "pytorch_model-00001-of-00002.bin").unlink()
    with pytest.raises(ValueError, match="missing"):
        load_hf_checkpoint(tmp_path)


def test_export_cli_from_a_hf_directory(tmp_path, capsys):
    cfg = small_config()
    export_state_dict(cfg, build(cfg).state_dict(), "baichuan", tmp_path / "a")
    main([f"checkpoint={tmp_path / 'a'}", "format=llama", f"output={tmp_path / 'b'}", "dtype=fp32"])
    assert json.loads((tmp_path / "b" / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
    assert "exported" in capsys.readouterr().out


@pytest.fixture(scope="module")
def real_tokenizer(tmp_path_factory):
    """A SentencePiece tokenizer trained the project's way on the shipped zh/en sample (small vocab: fast)."""
    from data_pipeline.train_tokenizer import COMMAND as TRAIN_TOKENIZER_COMMAND
    from data_pipeline.train_tokenizer import train_tokenizer
    from tests.real_text import FIXTURE_CORPUS

    out = tmp_path_factory.mktemp("tokenizer")
    train_tokenizer(TRAIN_TOKENIZER_COMMAND.build_config(
        [f"input={FIXTURE_CORPUS}", f"output={out}", "vocab_size=3000"]))
    return out


ENCODE_PROBES = ["今天天气很好，我们去公园散步吧。", "The quick brown fox, 2023-12-05: 3.14159!",
                 " leading space and  double  spaces", "数字1234567890和English混合", "生僻字：龘靐齉爩 😀 ∮",
                 "line one\nline two\ttab"]


@pytest.mark.parametrize("fmt", ["llama", "baichuan", "tokenizer_dir"])
def test_every_export_directory_tokenizes_exactly_as_sentencepiece(real_tokenizer, tmp_path, fmt):
    transformers = pytest.importorskip("transformers")
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=str(real_tokenizer / "tokenizer.model"))
    if fmt == "tokenizer_dir":
        directory = real_tokenizer  # what train_tokenizer wrote itself
    else:
        cfg = small_config(vocab_size=sp.get_piece_size())
        directory = export_state_dict(cfg, build(cfg).state_dict(), fmt, tmp_path / fmt,
                                      str(real_tokenizer / "tokenizer.model"))
    hf = transformers.AutoTokenizer.from_pretrained(str(directory))
    for text in ENCODE_PROBES:
        assert hf.encode(text, add_special_tokens=False) == sp.encode(text), (fmt, text)
        assert hf.decode(sp.encode(text)) == sp.decode(sp.encode(text))
    # transformers' bos is what precedes a text: the shards' document start, the eos piece (document_start.py).
    assert [hf.bos_token_id, hf.eos_token_id] == [sp.eos_id(), sp.eos_id()]
