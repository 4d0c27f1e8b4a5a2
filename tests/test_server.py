"""`voxlm serve`: the OpenAI-compatible API, exercised with the official `openai` client against a real
uvicorn server on loopback, around a tiny random VoxLM (no weights; each server starts in well under a second)."""

from __future__ import annotations

import base64
import io
import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import pytest
import soundfile as sf

from voxlm.inference import SpeechChat, audio_question

pytest.importorskip("fastapi", reason="the server needs fastapi and uvicorn: pip install fastapi uvicorn")
pytest.importorskip("uvicorn", reason="the server needs fastapi and uvicorn: pip install fastapi uvicorn")
openai = pytest.importorskip("openai", reason="the tests speak through the official client: pip install openai")

from voxlm.serve.server import STATIC, create_app, serve_in_thread  # noqa: E402

MODEL = "voxlm-test"


def wav_bytes(wave: np.ndarray, sr: int = 16_000, fmt: str = "WAV") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, wave, sr, format=fmt)
    return buffer.getvalue()


def audio_part(data: bytes | str, fmt: str = "wav") -> dict:
    encoded = data if isinstance(data, str) else base64.b64encode(data).decode()
    return {"type": "input_audio", "input_audio": {"data": encoded, "format": fmt}}


@pytest.fixture
def engine(make_tiny):
    model, processor = make_tiny()
    return SpeechChat(model, processor, max_new_tokens=8)


@pytest.fixture
def serve(engine):
    """`with serve(**create_app_kwargs) as (client, url):` a live server on 127.0.0.1 and an openai client for it."""

    @contextmanager
    def start(**settings):
        settings = {"max_request_bytes": 2**20, "max_audio_seconds": 5, "request_timeout_s": 30, "max_queue": 8,
                    "model_name": MODEL, **settings}
        with serve_in_thread(create_app(engine, **settings)) as url:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=30)
            yield client, url

    return start


@pytest.fixture
def clip(tone):
    """One second of tone as a wav file, and the same audio as the model sees it (16 kHz float32)."""
    wave = tone(1.0)
    return wav_bytes(wave), wave


def ask(client, content, **kwargs):
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}], **kwargs)


def raw_post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict | str]:
    request = urllib.request.Request(f"{url}/v1/chat/completions", data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


@contextmanager
def gated(engine):
    """Hold every request as it joins the decoding batch until the returned event is set (bounded), to fill the
    queue or force a timeout."""
    gate = threading.Event()
    original = engine.embed

    def embed(*args, **kwargs):
        gate.wait(20)
        return original(*args, **kwargs)

    engine.embed = embed
    try:
        yield gate
    finally:
        gate.set()
        engine.embed = original


# ---- good requests -----------------------------------------------------------------------------


def test_models_lists_the_one_served_model(serve):
    with serve() as (client, _):
        assert [m.id for m in client.models.list().data] == [MODEL]


def test_health_reports_ok_and_queue(serve):
    with serve(max_queue=3) as (_, url):
        with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
            health = json.loads(response.read())
    assert health["status"] == "ok" and health["model"] == MODEL and health["max_queue"] == 3 and health["waiting"] == 0


def test_audio_answer_is_the_engines_greedy_answer_with_usage(serve, engine, clip):
    data, wave = clip
    expected = engine.reply(audio_question(wave, "Summarize this."))
    with serve() as (client, _):
        response = ask(client, [audio_part(data), {"type": "text", "text": "Summarize this."}])
    choice = response.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == expected.text
    assert choice.finish_reason == expected.finish_reason
    assert response.model == MODEL and response.object == "chat.completion"
    assert response.usage.prompt_tokens == expected.prompt_tokens
    assert response.usage.completion_tokens == expected.completion_tokens
    assert response.usage.total_tokens == expected.prompt_tokens + expected.completion_tokens


def test_a_clip_that_soft_tokens_hear_as_silence_gets_a_normal_answer(make_tiny, clip):
    model, processor = make_tiny(interface="soft_tokens", blank_threshold=0.0)  # every audio position is blank
    engine = SpeechChat(model, processor, max_new_tokens=8)
    data, wave = clip
    question = [{"type": "text", "text": "hello world"}]
    expected = engine.reply([{"role": "user", "content": [{"type": "audio", "audio": wave}, *question]}])
    with serve_in_thread(create_app(engine, model_name=MODEL)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=30)
        response = ask(client, [audio_part(data), *question])
    assert engine.transcribe([wave]) == [""]
    assert response.choices[0].message.content == expected.text and expected.completion_tokens > 0


def test_streamed_pieces_join_into_the_non_streamed_answer(serve, clip):
    with serve() as (client, _):
        whole = ask(client, [audio_part(clip[0])])
        chunks = list(ask(client, [audio_part(clip[0])], stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishing = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishing == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == whole.usage.total_tokens
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].object == "chat.completion.chunk"


def test_stream_is_server_sent_events_ending_with_done(serve, clip):
    body = json.dumps({"messages": [{"role": "user", "content": [audio_part(clip[0])]}], "stream": True}).encode()
    with serve() as (_, url):
        request = urllib.request.Request(f"{url}/v1/chat/completions", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers["Content-Type"].startswith("text/event-stream")
            events = [e for e in response.read().decode().split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[-2].removeprefix("data: "))["choices"][0]["finish_reason"] in ("stop", "length")


def test_plain_string_content_needs_no_audio(serve):
    with serve() as (client, _):
        response = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hello world"}])
    assert isinstance(response.choices[0].message.content, str) and response.usage.completion_tokens >= 1


def test_multi_turn_conversation_with_system_and_audio_in_two_turns(serve, clip):
    messages = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": [audio_part(clip[0]), {"type": "text", "text": "what is said?"}]},
        {"role": "assistant", "content": "the quick brown fox"},
        {"role": "user", "content": [{"type": "text", "text": "and here?"}, audio_part(clip[0])]},
    ]
    with serve() as (client, _):
        one_turn = ask(client, [audio_part(clip[0]), {"type": "text", "text": "what is said?"}])
        response = client.chat.completions.create(model=MODEL, messages=messages)
    # both clips (13 positions each for 1 s at stack 4) and the earlier turns are in the prompt
    assert response.usage.prompt_tokens > one_turn.usage.prompt_tokens + 13


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_caps_the_answer(serve, field):
    with serve() as (client, _):
        response = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hello"}], **{field: 2})
    assert response.usage.completion_tokens <= 2
    assert response.choices[0].finish_reason == ("length" if response.usage.completion_tokens == 2 else "stop")


def test_sampling_with_a_seed_repeats(serve):
    with serve() as (client, _):
        answers = [client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hello"}],
                                                  temperature=1.5, seed=7).choices[0].message.content for _ in range(2)]
    assert answers[0] == answers[1]


def test_concurrent_requests_all_succeed(serve, clip):
    with serve(max_queue=8) as (client, url):
        with ThreadPoolExecutor(6) as pool:
            responses = list(pool.map(lambda _: ask(client, [audio_part(clip[0])]), range(6)))
        with urllib.request.urlopen(f"{url}/health", timeout=10) as health:
            served = json.loads(health.read())["served"]
    assert len({r.choices[0].message.content for r in responses}) == 1  # greedy: the same answer six times
    assert served == 6


def test_demo_page_and_its_assets_are_local(serve):
    with serve() as (_, url):
        with urllib.request.urlopen(f"{url}/", timeout=10) as response:
            page = response.read().decode()
        with urllib.request.urlopen(f"{url}/static/app.js", timeout=10) as response:
            assert response.status == 200
    assert "/static/app.js" in page and "MediaRecorder" in (STATIC / "app.js").read_text()
    for asset in STATIC.iterdir():  # no CDN, no web fonts
        assert "http://" not in asset.read_text() and "https://" not in asset.read_text(), asset.name


# ---- bad requests: OpenAI-shaped errors, then the server goes on -------------------------------


def user(*parts) -> list[dict]:
    return [{"role": "user", "content": list(parts)}]


BAD_REQUESTS = {
    # name: (request body (without model), expected status, code, param)
    "invalid base64": ({"messages": user(audio_part("not base64 at all!!"))}, 400, "invalid_base64",
                       "messages[0].content[0].input_audio.data"),
    "bytes that are not audio": ({"messages": user(audio_part(b"this is a text file, not a recording\n" * 20))}, 400,
                                 "invalid_audio", "messages[0].content[0].input_audio.data"),
    "unsupported format": ({"messages": user(audio_part(b"RIFF", "xyz"))}, 400, "unsupported_audio_format",
                           "messages[0].content[0].input_audio.format"),
    "missing messages": ({}, 400, "missing_required_parameter", "messages"),
    "empty messages": ({"messages": []}, 400, "invalid_value", "messages"),
    "missing audio data": ({"messages": user({"type": "input_audio", "input_audio": {"format": "wav"}})}, 400,
                           "missing_required_parameter", "messages[0].content[0].input_audio.data"),
    "missing text": ({"messages": user({"type": "text"})}, 400, "missing_required_parameter", "messages[0].content[0].text"),
    "unknown part type": ({"messages": user({"type": "image_url", "image_url": {"url": "x"}})}, 400, "invalid_value",
                          "messages[0].content[0]"),
    "unknown role": ({"messages": [{"role": "robot", "content": "hi"}]}, 400, "invalid_value", "messages[0].role"),
    "content of the wrong type": ({"messages": [{"role": "user", "content": 5}]}, 400, "invalid_value", "messages[0].content"),
    "max_tokens as a string": ({"messages": user({"type": "text", "text": "hi"}), "max_tokens": "5"}, 400, "invalid_type",
                               "max_tokens"),
    "stream as a string": ({"messages": user({"type": "text", "text": "hi"}), "stream": "yes"}, 400, "invalid_type", "stream"),
    "temperature out of range": ({"messages": user({"type": "text", "text": "hi"}), "temperature": 5}, 400, "invalid_value",
                                 "temperature"),
    "several choices": ({"messages": user({"type": "text", "text": "hi"}), "n": 2}, 400, "invalid_value", "n"),
    "audio in an assistant turn": ({"messages": [{"role": "assistant", "content": [audio_part(b"x")]}]}, 400,
                                   "invalid_value", "messages[0].content[0]"),
    "the audio placeholder in text": ({"messages": user({"type": "text", "text": "a <|audio|> b"})}, 400, "invalid_value",
                                      "messages[0].content[0]"),
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_bad_request_is_an_openai_error_and_the_server_goes_on(serve, clip, name):
    body, status, code, param = BAD_REQUESTS[name]
    with serve() as (client, url):
        with pytest.raises(openai.APIStatusError) as raised:
            # the client's low-level post: `create` itself refuses some of these bodies before sending
            client.post("/chat/completions", body={"model": MODEL, **body}, cast_to=object)
        error = raised.value
        assert (error.status_code, error.code, error.param) == (status, code, param), error.message
        assert error.type == "invalid_request_error" and error.message
        assert ask(client, [audio_part(clip[0])]).choices[0].message.role == "assistant"


def test_error_body_has_exactly_openais_fields(serve):
    with serve() as (_, url):
        status, body = raw_post(url, json.dumps({"messages": user(audio_part("%%%"))}).encode())
    assert status == 400 and set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}


def test_invalid_json_is_a_400(serve):
    with serve() as (_, url):
        status, body = raw_post(url, b'{"messages": [')
    assert status == 400 and body["error"]["code"] == "invalid_json"


def test_unknown_model_is_a_404(serve):
    with serve() as (client, _):
        with pytest.raises(openai.NotFoundError) as raised:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.code == "model_not_found" and MODEL in raised.value.message


def test_unknown_route_is_an_openai_shaped_404(serve):
    with serve() as (_, url):
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(f"{url}/v1/embeddings", timeout=10)
    assert raised.value.code == 404 and json.loads(raised.value.read())["error"]["code"] == "not_found"


def test_oversized_body_is_a_413(serve, clip):
    with serve(max_request_bytes=100_000) as (client, _):
        with pytest.raises(openai.APIStatusError) as raised:
            ask(client, [audio_part(b"\0" * 200_000)])
        assert raised.value.status_code == 413 and raised.value.code == "request_too_large"
        assert ask(client, [audio_part(clip[0])]).choices[0].message.role == "assistant"


def test_too_long_audio_is_a_400_naming_the_limit(serve, tone):
    with serve(max_audio_seconds=2) as (client, _):
        with pytest.raises(openai.BadRequestError) as raised:
            ask(client, [audio_part(wav_bytes(tone(3.0)))])
    assert raised.value.code == "audio_too_long" and "2 s" in raised.value.message


@pytest.mark.parametrize("fmt", ["FLAC", "OGG"])
def test_compressed_formats_are_decoded(serve, tone, fmt):
    with serve() as (client, _):
        response = ask(client, [audio_part(wav_bytes(tone(1.0), fmt=fmt), fmt.lower())])
    assert response.usage.prompt_tokens > 13  # the clip's audio positions are in the prompt


def test_a_data_url_prefix_is_accepted(serve, clip):
    data_url = "data:audio/wav;base64," + base64.b64encode(clip[0]).decode()
    with serve() as (client, _):
        assert ask(client, [audio_part(data_url)]).usage.prompt_tokens > 13


def test_serve_verb_defaults_to_loopback():
    import argparse

    from voxlm.serve.server import add_serve_arguments

    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.model) == ("127.0.0.1", 8000, None)


def test_a_request_that_fails_to_start_is_a_500_and_the_next_request_works(serve, engine, clip):
    original = engine.embed

    def broken(*args, **kwargs):
        engine.embed = original  # fail once
        raise RuntimeError("out of memory")

    with serve() as (client, _):
        engine.embed = broken
        with pytest.raises(openai.InternalServerError) as raised:
            ask(client, [audio_part(clip[0])])
        assert raised.value.code == "generation_failed" and "out of memory" in raised.value.message
        assert ask(client, [audio_part(clip[0])]).choices[0].message.role == "assistant"


def test_a_failing_decoding_step_fails_its_batch_with_500s_and_the_server_goes_on(serve, engine, clip):
    from voxlm.inference import Decoder

    original = Decoder.step

    def broken(self):
        Decoder.step = original  # fail once
        raise RuntimeError("out of memory")

    with serve() as (client, _):
        Decoder.step = broken
        try:
            with pytest.raises(openai.InternalServerError) as raised:
                ask(client, [audio_part(clip[0])])
        finally:
            Decoder.step = original
        assert raised.value.code == "generation_failed" and "out of memory" in raised.value.message
        assert ask(client, [audio_part(clip[0])]).choices[0].message.role == "assistant"


def test_concurrent_requests_decode_together_and_each_gets_its_own_answer(serve, engine, tone):
    from voxlm.inference import Decoder

    questions = [[audio_part(wav_bytes(tone(0.5 + 0.4 * i) * (0.2 + 0.1 * i)))] for i in range(4)] + ["hi", "hello there"]
    conversations = [audio_question(tone(0.5 + 0.4 * i) * (0.2 + 0.1 * i)) for i in range(4)]
    conversations += [[{"role": "user", "content": q}] for q in questions[4:]]
    alone = [engine.reply(c).text for c in conversations]
    widths, original = [], Decoder.step
    Decoder.step = lambda self: widths.append(len(self)) or original(self)
    try:
        with serve() as (client, url), gated(engine) as gate:
            with ThreadPoolExecutor(len(questions)) as pool:
                futures = [pool.submit(ask, client, q) for q in questions]
                # all admitted: held at the gate (the worker may take two that arrive together) or queued
                wait_until(lambda: (lambda h: h["decoding"] + h["waiting"])(health(url)) == len(questions))
                gate.set()
                answers = [f.result(timeout=30).choices[0].message.content for f in futures]
    finally:
        Decoder.step = original
    assert answers == alone
    assert max(widths) == len(questions)  # the queued ones joined the held batch mid-answer


# ---- load shedding and deadlines ---------------------------------------------------------------


def test_full_queue_answers_503_at_once(serve, engine):
    hello = [{"role": "user", "content": "hello"}]
    with serve(max_queue=1) as (client, url), gated(engine) as gate:
        with ThreadPoolExecutor(2) as pool:
            held = [pool.submit(client.chat.completions.create, model=MODEL, messages=hello)]
            wait_until(lambda: health(url)["busy"])  # the first is generating (held at the gate)
            held.append(pool.submit(client.chat.completions.create, model=MODEL, messages=hello))
            wait_until(lambda: health(url)["waiting"] == 1)  # the second fills the queue
            with pytest.raises(openai.InternalServerError) as raised:
                client.chat.completions.create(model=MODEL, messages=hello)
            gate.set()
            assert all(f.result(timeout=30).choices[0].message.role == "assistant" for f in held)
    assert raised.value.status_code == 503 and raised.value.code == "queue_full"
    assert raised.value.response.headers["Retry-After"]


def test_a_request_past_its_deadline_is_a_504_and_the_server_goes_on(serve, engine):
    hello = [{"role": "user", "content": "hello"}]
    with serve(request_timeout_s=0.5) as (client, url):
        with gated(engine):
            with pytest.raises(openai.InternalServerError) as raised:
                client.chat.completions.create(model=MODEL, messages=hello)
        assert raised.value.status_code == 504 and raised.value.code == "timeout"
        wait_until(lambda: not health(url)["busy"])
        assert client.chat.completions.create(model=MODEL, messages=hello).choices[0].message.role == "assistant"


def test_a_client_leaving_mid_stream_stops_its_generation(serve, engine):
    import time

    rows, original = [], engine.batch

    def slow_batch():  # 20 ms per token, and never the end token: 400 tokens would take 8 s
        batch = original()
        batch.decoder.eos = frozenset({-1})
        step, add = batch.decoder.step, batch.decoder.add
        batch.decoder.step = lambda: time.sleep(0.02) or step()
        batch.decoder.add = lambda *args: rows.extend(add(*args)) or rows[-len(args[0]):]
        return batch

    engine.batch = slow_batch
    with serve() as (client, url):
        stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hello"}],
                                                max_tokens=400, stream=True)
        next(iter(stream))
        stream.close()
        wait_until(lambda: not health(url)["busy"], timeout=5)
    assert rows[0].finish_reason == "cancelled" and len(rows[0].tokens) < 200


def health(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
        return json.loads(response.read())


def wait_until(condition, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)
