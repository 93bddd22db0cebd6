"""The optional kernels' detection (flash-attn, apex), shared by the model and `launch.doctor`: a broken or
Python-only install is never chosen, `auto` on a GPU says at WARNING why it fell back, the documented install
builds flash-attn against the installed torch, and a kernel that cannot train on this device is refused.

CUDA, compute capability and the packages are faked: real import machinery over temp package layouts."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import pytest
import torch

from pretrain.model import kernels
from pretrain.model.attention import resolve_attention_backend
from pretrain.model.norm import resolve_norm_backend

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_detection():
    """Detection is cached per process; every test sees its own fake machine."""
    kernels.flash_attn_status.cache_clear()
    kernels.apex_rmsnorm_status.cache_clear()
    yield
    kernels.flash_attn_status.cache_clear()
    kernels.apex_rmsnorm_status.cache_clear()


@pytest.fixture
def fake_gpu(monkeypatch):
    """A CUDA machine with one GPU of the given compute capability (default: an H100, 9.0)."""

    def install(capability=(9, 0), name="NVIDIA H100 80GB HBM3"):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: name)

    return install


FAKED = ("apex", "flash_attn", "fused_layer_norm_cuda", "flash_attn_2_cuda")


def _forget_faked_modules() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in FAKED:
            del sys.modules[name]


@pytest.fixture
def packages(tmp_path, monkeypatch):
    """Write a package layout {relative path: source} into a temp dir placed first on sys.path; the modules
    imported from it are forgotten afterwards, so no later test finds them."""

    def write(files: dict[str, str]) -> None:
        for relative, source in files.items():
            path = tmp_path / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(source)
        monkeypatch.syspath_prepend(str(tmp_path))
        _forget_faked_modules()

    yield write
    _forget_faked_modules()


PYTHON_ONLY_APEX = {
    "apex/__init__.py": "",
    "apex/normalization/__init__.py": "",
    # The real module defines the function at import and imports the extension only when it is called.
    "apex/normalization/fused_layer_norm.py": (
        "def fused_rms_norm_affine(x, weight, shape, eps):\n"
        "    import fused_layer_norm_cuda\n"
    ),
}


# --- item 2: apex without its compiled CUDA extension ----------------------------------------------------------

def test_python_only_apex_is_not_chosen_by_auto_and_explicit_apex_says_why(fake_gpu, packages):
    fake_gpu()
    packages(PYTHON_ONLY_APEX)
    status = kernels.apex_rmsnorm_status()
    assert not status.usable and "fused_layer_norm_cuda" in status.reason
    assert resolve_norm_backend("auto") == "torch"
    with pytest.raises(ValueError, match=r"model.norm=apex .*fused_layer_norm_cuda.* build apex"):
        resolve_norm_backend("apex")


def test_apex_with_its_extension_is_chosen_on_a_gpu(fake_gpu, packages):
    fake_gpu()
    packages({**PYTHON_ONLY_APEX, "fused_layer_norm_cuda.py": ""})
    assert kernels.apex_rmsnorm_status().usable
    assert resolve_norm_backend("auto") == "apex"


def test_doctor_reports_the_same_apex_finding_as_the_model(fake_gpu, packages):
    from launch import doctor

    fake_gpu()
    packages(PYTHON_ONLY_APEX)
    row = doctor.check_apex()
    assert row.value == "unusable" and "fused_layer_norm_cuda" in row.detail


# --- item 6: why auto falls back on a GPU; the documented install -------------------------------------------

BROKEN_FLASH = {
    # A wheel built against another torch: the extension is there but does not link (an ABI mismatch).
    "abi": ("raise ImportError('flash_attn_2_cuda.so: undefined symbol: _ZN3c105ErrorC2ENS_14SourceLocationE')",
            "undefined symbol"),
    # The Python package without its compiled extension: a ModuleNotFoundError, but not a missing flash-attn.
    "no extension": ("import flash_attn_2_cuda", "flash_attn_2_cuda"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_FLASH))
def test_auto_on_a_gpu_warns_that_a_broken_flash_attn_is_why_it_uses_sdpa(fake_gpu, packages, caplog, case):
    source, why = BROKEN_FLASH[case]
    fake_gpu()
    packages({"flash_attn/__init__.py": source + "\n"})
    with caplog.at_level(logging.INFO, logger="pretrain.model"):
        assert resolve_attention_backend("auto") == "sdpa"
    [record] = [r for r in caplog.records if "sdpa" in r.getMessage()]
    assert record.levelno == logging.WARNING and why in record.getMessage()
    assert "not installed" not in record.getMessage()


def test_auto_on_a_gpu_warns_when_flash_attn_is_missing(fake_gpu, monkeypatch, caplog):
    fake_gpu()
    monkeypatch.setitem(sys.modules, "flash_attn", None)  # import raises ModuleNotFoundError(name="flash_attn")
    with caplog.at_level(logging.INFO, logger="pretrain.model"):
        assert resolve_attention_backend("auto") == "sdpa"
    [record] = [r for r in caplog.records if "sdpa" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "not installed" in record.getMessage() and "--no-build-isolation" in record.getMessage()


def test_auto_on_a_pre_ampere_gpu_warns_about_compute_capability(fake_gpu, packages, caplog):
    fake_gpu(capability=(7, 0), name="Tesla V100-SXM2-32GB")
    packages({"flash_attn/__init__.py": "__version__ = '2.6.3'\n"})
    with caplog.at_level(logging.INFO, logger="pretrain.model"):
        assert resolve_attention_backend("auto") == "sdpa"
    [record] = [r for r in caplog.records if "sdpa" in r.getMessage()]
    assert record.levelno == logging.WARNING and "compute capability 7.0" in record.getMessage()
    kernels.flash_attn_status.cache_clear()
    fake_gpu(capability=(8, 0), name="NVIDIA A100-SXM4-80GB")
    assert resolve_attention_backend("auto") == "flash"


def test_auto_on_cpu_falls_back_quietly():
    if torch.cuda.is_available():
        pytest.skip("a CUDA machine")
    status = kernels.flash_attn_status()
    assert not status.usable and "no CUDA device" in status.reason
    assert resolve_attention_backend("auto") == "sdpa"


def test_documented_gpu_install_builds_flash_attn_against_the_installed_torch():
    # pip builds an extra's sdists in an isolated environment without torch, where flash-attn's setup.py
    # (which imports torch) fails: flash-attn must not be in the extra, and must be installed with
    # --no-build-isolation after torch — in the README and in the hint a user gets when it is missing.
    gpu_extra = re.search(r"^gpu = \[(.*)\]", (REPO / "pyproject.toml").read_text(), re.M).group(1)
    assert "flash-attn" not in gpu_extra and "flash_attn" not in gpu_extra
    readme = (REPO / "README.md").read_text()
    section = readme.split("## On a GPU cluster", 1)[1].split("\n## ", 1)[0]
    commands = [line.split("#")[0] for line in section.splitlines()]
    flash_installs = [line for line in commands if "pip install" in line and "flash-attn" in line]
    assert flash_installs and all("--no-build-isolation" in line for line in flash_installs)
    assert "--no-build-isolation" in kernels.FLASH_INSTALL


# --- item 12: a kernel that cannot train on this device ------------------------------------------------------

def test_flex_cannot_train_on_cpu_but_may_run_forward_there(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    problem = kernels.attention_backend_problem("flex", training=True)
    assert problem and "model.attention=flex" in problem and "sdpa" in problem and "\n" not in problem
    assert "flex" not in problem.split("use model.attention=")[1]  # the alternatives do not offer it again
    assert kernels.attention_backend_problem("flex", training=False) is None
    assert resolve_attention_backend("flex") == "flex"  # generate/evaluate on CPU still build a flex model
    for backend in ("auto", "sdpa", "eager"):
        assert kernels.attention_backend_problem(backend, training=True) is None
    assert resolve_attention_backend("auto") != "flex"


def test_flex_trains_on_a_gpu(fake_gpu):
    fake_gpu()
    assert kernels.attention_backend_problem("flex", training=True) is None


def test_flash_without_cuda_is_one_line_naming_the_alternatives(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    problem = kernels.attention_backend_problem("flash", training=True)
    assert problem.startswith("model.attention=flash") and "no CUDA device" in problem
    assert "auto|sdpa|eager" in problem and "\n" not in problem
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_attention_backend("flash")
