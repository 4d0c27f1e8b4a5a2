"""`voxlm assets`: convert the packaged weights into $VOXLM_HOME once, or list what is there."""

from __future__ import annotations

import argparse
import time


def add_assets_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="assets to convert (default: all); see --list")
    parser.add_argument("--list", action="store_true", help="show what is installed and converted, with sizes and paths")


def run_assets(args: argparse.Namespace) -> int:
    """Convert packaged weights into $VOXLM_HOME once (a no-op when already done)."""
    from . import ASSETS, asset_status, ensure_asset

    if args.list:
        rows = asset_status()
        print(f"{'asset':30} {'kind':15} {'state':16} {'size':>9}  path")
        for r in rows:
            size = f"{r['size_mb']:.0f} MB" if r["size_mb"] is not None else "-"
            print(f"{r['name']:30} {r['kind']:15} {r['state']:16} {size:>9}  {r['path']}")
        return 0
    for name in args.names or list(ASSETS):
        start = time.perf_counter()
        path = ensure_asset(name)
        print(f"{name}: ready at {path} ({time.perf_counter() - start:.1f} s)")
    return 0
