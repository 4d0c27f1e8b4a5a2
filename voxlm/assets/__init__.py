"""Packaged weights -> local HF folders under $VOXLM_HOME (see registry.py)."""

from .registry import (
    ASSETS,
    AssetMissingError,
    asset_dir,
    asset_status,
    ensure_asset,
    resolve_model_path,
    voxlm_home,
)

__all__ = ["ASSETS", "AssetMissingError", "asset_dir", "asset_status", "ensure_asset", "resolve_model_path", "voxlm_home"]
