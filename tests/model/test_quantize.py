"""Weight-only int8/int4 through torchao: what is quantized, the bytes it stores (and the planner's arithmetic for
them), logits that stay close, the KV-cache generate path on a quantized model, and the command lines."""

from __future__ import annotations

import json

import pytest
import torch

from pretrain.generate import generate
from pretrain.generate import main as generate_main
from pretrain.inference.quantize import decoder_linears, planned_weight_bytes, quantize_model, weight_bytes

from .conftest import build, small_config

torchao = pytest.importorskip("torchao")


def quantized(cfg, mode, dtype=torch.float32, seed=0):
    model = build(cfg, seed).to(dtype)
    report = quantize_model(model, mode)
    return model, report


@pytest.mark.parametrize("dtype,dtype_bytes", [(torch.bfloat16, 2), (torch.float32, 4)])
def test_stored_bytes_shrink_and_equal_the_planners_arithmetic(dtype, dtype_bytes):
    cfg = small_config(vocab_size=200, hidden_size=128, intermediate_size=256)
    stored = {mode: weight_bytes(quantized(cfg, mode, dtype)[0]) for mode in ("none", "int8", "int4")}
    for mode, nbytes in stored.items():
        assert nbytes == planned_weight_bytes(cfg, mode, dtype_bytes), mode
    linear_weights = sum(m.weight.numel() for m in decoder_linears(build(cfg)).values())
    # int8 saves (dtype_bytes - 1) bytes per decoder weight minus its row scales; int4 another half byte.
    assert stored["none"] - stored["int8"] > 0.95 * (dtype_bytes - 1) * linear_weights
    assert stored["int8"] - stored["int4"] > 0.3 * linear_weights


def test_only_decoder_linears_are_quantized_and_misfits_are_reported():
    cfg = small_config(vocab_size=200, hidden_size=64, intermediate_size=48)  # 48 fits no int4 group size
    model, report = quantized(cfg, "int4")
    assert type(model.lm_head.weight) is torch.nn.Parameter
    assert type(model.model.embed_tokens.weight) is torch.nn.Parameter
    assert type(model.model.layers[0].self_attn.W_pack.weight) is not torch.nn.Parameter
    assert report.kept == [f"model.layers.{i}.mlp.down_proj" for i in range(cfg.num_layers)]
    assert len(report.quantized) == 4 * cfg.num_layers and "2 kept" in report.summary()
    _, int8 = quantized(cfg, "int8")
    assert len(int8.quantized) == 5 * cfg.num_layers and not int8.kept


@pytest.mark.parametrize("position", ["rope", "alibi"])
def test_quantized_logits_stay_close_and_cached_generation_matches_recompute(position):
    cfg = small_config(vocab_size=200, hidden_size=128, intermediate_size=256, position=position, attention="sdpa")
    ids = torch.randint(3, 200, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = build(cfg)(ids)
    errors = {}
    for mode in ("int8", "int4"):
        model, _ = quantized(cfg, mode)
        with torch.no_grad():
            logits = model(ids)
            errors[mode] = float((logits - reference).norm() / reference.norm())
            expected = ids
            for _ in range(6):  # greedy by recomputing the whole sequence, no cache
                expected = torch.cat([expected, model(expected)[:, -1].argmax(-1, keepdim=True)], dim=1)
        assert torch.equal(generate(model, ids, 6, temperature=0.0), expected), mode
    assert errors["int8"] < 0.02 and errors["int4"] < 0.2
    assert errors["int8"] < errors["int4"]


def test_bad_quantize_value_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        generate_main(["checkpoint=does-not-matter", "prompt=hi", "quantize=int3"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "quantize='int3'" in err and len(err.splitlines()) == 1


def test_evaluation_refuses_a_bad_quantize_value_before_loading(capsys):
    from pretrain.evaluation.cli import main as evaluation_main

    with pytest.raises(SystemExit) as exit_info:
        evaluation_main(["checkpoint=does-not-exist", "quantize=fp8"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "quantize='fp8'" in err and len(err.splitlines()) == 1


def test_int4_on_cuda_outside_bf16_is_refused_in_one_line_by_both_clis(capsys, monkeypatch):
    """torchao's CUDA int4 layout asserts bf16 weights and raises below compute capability 8.0 (issue 22 item 5);
    generate and evaluation default to fp32. The device is only named here: the check runs before any load."""
    from pretrain.cli import UsageError
    from pretrain.evaluation.cli import main as evaluation_main
    from pretrain.inference.quantize import check_quantize_mode

    for main, args in ((generate_main, ["prompt=hi"]), (evaluation_main, [])):
        with pytest.raises(SystemExit) as exit_info:
            main(["checkpoint=does-not-exist", "device=cuda", "quantize=int4", *args])
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and len(err.splitlines()) == 1, err
        assert "quantize=int4 on cuda needs dtype=bf16, not fp32" in err and "add dtype=bf16" in err
    with pytest.raises(UsageError, match="not fp16"):
        check_quantize_mode("int4", torch.device("cuda", 1), torch.float16)
    check_quantize_mode("int4", "cuda:1", "bf16")
    check_quantize_mode("int4", "cpu", "fp32")  # torchao's CPU int4 takes any dtype
    check_quantize_mode("int8", "cuda", "fp32")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))  # a T4 / V100-class GPU
    with pytest.raises(UsageError, match=r"compute capability >= 8\.0.*this GPU is 7\.5 — use quantize=int8"):
        check_quantize_mode("int4", "cuda", "bf16")


@pytest.mark.parametrize("intermediate_size", [340, 352])  # gate/up rows padded to 344; down_proj kept / padded
def test_planned_int4_bytes_on_cuda_count_torchaos_padding(intermediate_size):
    """The planner against torchao's own CUDA layout (Int4TilePackedTo4dTensor.from_hp on meta weights, with the
    compute-capability query answered as an H100's): inputs padded to 1024 and rows to 8, stored in full."""
    from unittest import mock

    from pretrain.inference.quantize import _int4_config, import_torchao_quietly, int4_group_size
    from pretrain.model import BaichuanForCausalLM

    import_torchao_quietly()
    from torchao.quantization import quantize_

    cfg = small_config(vocab_size=200, hidden_size=128, intermediate_size=intermediate_size)
    with torch.device("meta"):
        model = BaichuanForCausalLM(cfg).to(torch.bfloat16)
    with mock.patch("torch.cuda.get_device_capability", return_value=(9, 0)):
        for name, linear in decoder_linears(model).items():
            if (group := int4_group_size(linear.in_features)) is not None:
                quantize_(model, _int4_config(group, torch.device("cuda")), filter_fn=lambda _m, fqn, t=name: fqn == t)
    assert type(model.model.layers[0].mlp.gate_proj.weight).__name__ == "Int4TilePackedTo4dTensor"
    stored = weight_bytes(model)
    assert stored == planned_weight_bytes(cfg, "int4", 2, device="cuda")
    assert stored > 3 * planned_weight_bytes(cfg, "int4", 2)  # 128-wide inputs stored as 1024: not a rounding


def test_generate_cli_runs_int8_and_int4_on_an_exported_model(tmp_path, corpus_dir, capsys):
    spm = pytest.importorskip("sentencepiece")
    from pretrain.weights import export_state_dict

    lines = []
    for path in sorted(corpus_dir.glob("zh_*.jsonl")):
        lines += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()[:100]]
    (tmp_path / "text.txt").write_text("\n".join(lines), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(tmp_path / "text.txt"), model_prefix=str(tmp_path / "sp"), vocab_size=3000, model_type="bpe",
        pad_id=0, bos_id=1, eos_id=2, unk_id=3, character_coverage=0.98, minloglevel=2,
    )
    cfg = small_config(vocab_size=3000, hidden_size=128, intermediate_size=256)
    export_state_dict(cfg, build(cfg).state_dict(), "llama", tmp_path / "hf", str(tmp_path / "sp.model"))
    for mode in ("int8", "int4"):
        generate_main([f"checkpoint={tmp_path / 'hf'}", "prompt=今天天气", "max_new_tokens=10", f"quantize={mode}"])
        captured = capsys.readouterr()
        assert captured.out.strip().startswith("今天天气") and len(captured.out.strip()) > len("今天天气")
        assert f"quantize={mode}: 10 decoder linear layers quantized" in captured.err


def test_plan_prints_the_13b_inference_memory_beside_the_release():
    from pretrain.plan import PlanArgs, plan

    result = plan(PlanArgs(model="baichuan_13b"), [])
    table = result["inference_memory"]
    assert [table[k]["release_gpu_memory_gb"] for k in ("bf16", "int8", "int4")] == [26.0, 15.8, 9.7]
    assert table["bf16"]["weights_gb"] == round(2 * result["parameters"] / 1e9, 2)
    assert table["int4"]["weights_gb"] < table["int8"]["weights_gb"] < 0.55 * table["bf16"]["weights_gb"]
    assert table["int8"]["kv_cache_gb"] == round(2 * 40 * 5120 * 2 * 2048 / 1e9, 2)  # 40 layers, hidden 5120


def test_missing_torchao_is_a_user_error_naming_the_install(monkeypatch):
    import pretrain.inference.quantize as quantize
    from pretrain.cli import UsageError

    monkeypatch.setattr(quantize, "torchao_available", lambda: False)
    quantize.check_quantize_mode("none")  # unquantized inference never needs it
    with pytest.raises(UsageError, match=r"quantize=int4 needs torchao — pip install torchao==0\.18\.0"):
        quantize.check_quantize_mode("int4")
