"""The demo page in a real browser: headless Debian `chromium` (driven by Playwright, never its own
downloaded browser) uploads a recording or records the fake microphone, and the streamed answer of
the default model (real weights) appears. Loopback only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import soundfile as sf
from conftest import SAMPLE

from voxlm.audio.io import load_audio
from voxlm.inference import SpeechChat

pytest.importorskip("fastapi", reason="the server needs fastapi and uvicorn: pip install fastapi uvicorn")
pytest.importorskip("uvicorn", reason="the server needs fastapi and uvicorn: pip install fastapi uvicorn")

from voxlm.serve.server import create_app, serve_in_thread  # noqa: E402

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def server_url():
    from voxlm.assets import AssetMissingError

    try:
        engine = SpeechChat.load(None, max_new_tokens=12)  # the default model: whisper-tiny.en + smollm2-135m
    except AssetMissingError as error:
        pytest.skip(str(error))
    with serve_in_thread(create_app(engine, request_timeout_s=60)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.skip("no system chromium: `apt-get install chromium` (Playwright's own browser download is not used)")
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            # --no-sandbox: CI runs as root; the fake device + UI flags stand in for a microphone and its prompt
            args=["--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server_url):
    context = browser.new_context(permissions=["microphone"])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server_url + "/")
    yield page
    context.close()
    assert not errors, errors


def wait_for_answer(page) -> str:
    page.wait_for_selector(".turn.assistant.done", timeout=90_000)
    return page.locator(".turn.assistant").last.inner_text()


def test_uploaded_wav_gets_a_streamed_answer(page, tmp_path):
    wav = tmp_path / "question.wav"
    sf.write(wav, load_audio(SAMPLE), 16_000)
    page.set_input_files("#file", str(wav))
    page.wait_for_selector("#send:not([disabled])", timeout=20_000)
    page.fill("#prompt", "Answer in one sentence.")
    page.click("#send")
    answer = wait_for_answer(page)
    assert "first token" in answer  # the timing line is written once the stream ended
    assert answer.split("first token")[0].strip(), "the answer text is empty"
    assert page.locator("#model").inner_text().startswith("voxlm")
    page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)


def test_recording_from_the_microphone_gets_an_answer(page):
    page.click("#record")
    page.wait_for_selector("#record.recording", timeout=10_000)
    page.wait_for_timeout(1500)
    page.click("#record")
    page.wait_for_selector("#send:not([disabled])", timeout=20_000)
    page.click("#send")
    assert wait_for_answer(page).split("first token")[0].strip()
