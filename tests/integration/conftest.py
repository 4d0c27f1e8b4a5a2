"""Integration tests run on the real converted weights (`voxlm assets`); they are marked so `-m "not integration"` skips them."""

from pathlib import Path

import pytest

from voxlm.assets import AssetMissingError, ensure_asset

SAMPLE = Path(__file__).resolve().parents[2] / "voxlm" / "samples" / "capital_of_france.flac"
SAMPLE_TEXT = "What is the capital of France? Answer in one sentence."


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def asset():
    """`asset(name) -> Path` of the converted folder; skips (with the fix) if the package is not installed."""

    def get(name: str) -> Path:
        try:
            return ensure_asset(name)
        except AssetMissingError as error:
            pytest.skip(str(error))

    return get
