"""`voxlm serve`: an OpenAI-compatible HTTP API (chat completions with `input_audio`) and a demo page.

    POST /v1/chat/completions   OpenAI chat-completions shape; audio as
                                {"type": "input_audio", "input_audio": {"data": <base64>, "format": "wav"}};
                                `stream: true` answers with server-sent events ending in `data: [DONE]`
    GET  /v1/models             the one model served
    GET  /health                liveness plus queue depth
    GET  /                      a page that records or uploads audio and streams the answer

One model, so one worker thread runs every generation, fed by a bounded queue; the event loop only
parses, decodes audio and relays tokens. A full queue answers 503 at once instead of piling up work,
each request has a deadline (queue wait included), and a request whose client went away or ran past
its deadline is stopped at the next token. Every error has OpenAI's shape,
`{"error": {"message", "type", "param", "code"}}`, so the official clients raise their usual exceptions.

Hostile input is refused before it costs anything: a body over the size limit on its declared length,
a clip over the length limit from its header (before decoding), a prompt over the token limit before
it is queued; headers and bodies must arrive within a read timeout; only allow-listed Host names are
served (DNS rebinding), and with an API key only `Authorization: Bearer <key>` reaches /v1/.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hmac
import json
import os
import queue
import shutil
import socket
import threading
import time
import uuid
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, AsyncIterator, Iterator, Literal, Union

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..audio.io import AudioError, AudioTooLong, load_audio
from ..inference import PromptTooLong, Reply, SpeechChat
from ..model.shipped import MODEL_HELP

STATIC = Path(__file__).resolve().parent / "static"

# Containers libsndfile decodes in-process; the rest need ffmpeg on PATH (see `audio.io`).
SNDFILE_FORMATS = ("wav", "mp3", "flac", "ogg", "opus", "aiff", "aif", "au", "caf")
FFMPEG_FORMATS = ("webm", "m4a", "mp4", "aac", "wma")


# Served Host names unless --allowed-hosts says otherwise: a DNS-rebinding page reaches 127.0.0.1 under its own name.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
DECODE_SLOTS = 2  # audio decodes (and prompt tokenization) running at once, beside the generation
# h11 caps only headers that arrive in pieces; this caps them however they arrive (OpenAI's clients send < 1 KiB).
MAX_HEADER_BYTES = 16 * 2**10


def supported_formats() -> tuple[str, ...]:
    return SNDFILE_FORMATS + (FFMPEG_FORMATS if shutil.which("ffmpeg") else ())


def mib(size: float) -> str:
    """Bytes as the CLI's unit (`--max-request-mb 32` is 32 MiB): 33554432 -> '32 MiB', 100000 -> '0.1 MiB'."""
    return f"{size / 2**20:.1f}".removesuffix(".0") + " MiB"


# ---- errors ------------------------------------------------------------------------------------


class APIError(Exception):
    """An error answered as OpenAI's `{"error": {...}}` with an HTTP status."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def _param(loc: tuple) -> str | None:
    """Pydantic location -> OpenAI param path.

    ('body', 'messages', 0, 'content', <union branch>, 1, 'text') -> 'messages[0].content[1].text'
    """
    path = ""
    previous = None
    for part in loc:
        if part == "body" and not path:
            continue
        if isinstance(part, str) and ("[" in part or part in ("str", "int", "float", "bool")):
            continue  # the name of a union branch, not a field
        if part == previous:
            continue  # a tagged union repeats the tag ('input_audio', 'input_audio', 'data')
        previous = part
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or None


def validation_error(exc: RequestValidationError) -> APIError:
    """FastAPI's 422 -> OpenAI's 400 with the first problem as `param` and up to three in the message."""
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return APIError(400, "the request body is not valid JSON", code="invalid_json")
    # Content is `str | list[part]`; a list that failed also failed the `str` branch: that one is noise.
    errors = [e for e in errors if "str" not in e.get("loc", ())] or errors
    described = []
    for e in errors[:3]:
        param = _param(tuple(e.get("loc", ())))
        message = e.get("msg", "invalid value").removeprefix("Value error, ")
        if e.get("type") == "union_tag_invalid":
            message = f"unsupported content part type {e.get('input', {}).get('type')!r} (use 'text' or 'input_audio')"
        elif e.get("type") == "missing" and param:
            message = "required field is missing"
        elif not param:
            message = "the request body must be a JSON object (OpenAI chat-completions request)"
        described.append(f"{param}: {message}" if param else message)
    first = errors[0] if errors else {}
    kind = first.get("type", "")
    code = "missing_required_parameter" if kind == "missing" else "invalid_type" if kind.endswith("_type") else "invalid_value"
    return APIError(400, "; ".join(described) or "invalid request", param=_param(tuple(first.get("loc", ()))), code=code)


# ---- request schema ----------------------------------------------------------------------------


class _Strict(BaseModel):
    # Strict: "5" is not an int and "yes" is not a bool. Unknown fields (user, metadata, ...) are ignored
    # as OpenAI-compatible servers usually do, so stock clients keep working.
    model_config = ConfigDict(strict=True, extra="ignore")


def _valid_unicode(text: str) -> str:
    # JSON can carry a lone surrogate ("\ud800"), which is not text: no tokenizer or UTF-8 encoder takes it.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"contains a lone surrogate {text[error.start]!r} at character {error.start}; "
                         "send valid Unicode (UTF-8)") from None
    return text


Text = Annotated[str, AfterValidator(_valid_unicode)]


class InputAudio(_Strict):
    data: Text = Field(description="base64 of an encoded audio file (a `data:audio/...;base64,` prefix is accepted)")
    format: Text = Field("wav", description="container of `data`: wav, mp3, flac, ogg, ...")


class TextPart(_Strict):
    type: Literal["text"]
    text: Text


class AudioPart(_Strict):
    type: Literal["input_audio"]
    input_audio: InputAudio


ContentPart = Annotated[Union[TextPart, AudioPart], Field(discriminator="type")]


class Message(_Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: Union[str, list[ContentPart]]

    @field_validator("content", mode="before")
    @classmethod
    def _string_or_parts(cls, value: Any) -> Any:
        if not isinstance(value, (str, list)):
            raise ValueError("must be a string or a list of content parts")
        return value


class StreamOptions(_Strict):
    include_usage: bool = False


class ChatRequest(_Strict):
    messages: list[Message] = Field(min_length=1)
    model: Text | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2, description="0 or absent: greedy decoding")
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = Field(None, ge=-(2**63), lt=2**64, description="any 64-bit integer (torch's seed range)")
    n: int = Field(1, description="choices per request; only 1 is supported")
    stream: bool = False
    stream_options: StreamOptions | None = None

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int) -> int:
        if value != 1:
            raise ValueError("only n=1 is supported (send several requests for several answers)")
        return value


# ---- the generation worker ---------------------------------------------------------------------


@dataclass
class Job:
    """One request's trip through the worker; events go back to the event loop as ('piece'|'done'|'error', value)."""

    conversation: list[dict]
    inputs: Any  # the conversation as model inputs (`SpeechChat.prepare`), checked before it was queued
    settings: dict
    loop: asyncio.AbstractEventLoop
    deadline: float  # time.perf_counter() after which the answer is no longer wanted
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    reply: Reply = field(default_factory=lambda: Reply(text="", prompt_tokens=0, completion_tokens=0))
    queued_at: float = field(default_factory=time.perf_counter)
    started_at: float | None = None

    def emit(self, kind: str, value: Any = None) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))
        except RuntimeError:  # the loop is closed: the server is shutting down
            self.cancelled.set()

    @property
    def unwanted(self) -> bool:
        """Its client left, or its deadline passed (which holds even when no one is left to notice)."""
        return self.cancelled.is_set() or time.perf_counter() > self.deadline


def _failure(error: Exception) -> APIError:
    if isinstance(error, (AudioError, ValueError)):
        return APIError(400, str(error), code="invalid_input")
    return APIError(500, f"generation failed: {type(error).__name__}: {error}", type="server_error",
                    code="generation_failed")


class Worker:
    """The single thread that owns the model: it decodes up to `max_batch` requests together, one token each per
    step, and a request that arrives meanwhile joins at the next step (continuous batching). `submit` never
    blocks (a full queue raises `queue.Full`)."""

    def __init__(self, engine: SpeechChat, max_queue: int, max_batch: int = 16):
        self.engine = engine
        self.jobs: queue.Queue[Job] = queue.Queue(maxsize=max_queue)
        self.max_queue, self.max_batch = max_queue, max_batch
        self.decoding = 0
        self.served = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self.decoding > 0

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="voxlm-generate", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        while True:  # whoever still waits gets an answer rather than a hang
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            job.cancelled.set()
            job.emit("error", APIError(503, "the server is shutting down", type="server_error", code="shutting_down"))
        if self._thread is not None:
            self._thread.join(timeout)

    def submit(self, job: Job) -> None:
        self.jobs.put_nowait(job)

    def _take(self, room: int, wait: bool) -> list[Job]:
        """Up to `room` queued jobs still wanted; waits a moment for the first when nothing is decoding."""
        jobs: list[Job] = []
        while len(jobs) < room:
            try:
                job = self.jobs.get(timeout=0.2) if wait and not jobs else self.jobs.get_nowait()
            except queue.Empty:
                break
            if job.unwanted:
                continue  # its client left or its deadline passed while it waited
            jobs.append(job)
        return jobs

    def _run(self) -> None:
        batch = self.engine.batch()
        while not self._stop.is_set():
            joining: list[Job] = []
            try:
                for answer in batch.answers:  # departed clients and passed deadlines leave before the next step
                    if answer.key.unwanted:
                        batch.cancel(answer)
                        self.served += 1
                joining = self._take(self.max_batch - len(batch), wait=not len(batch))
                self.decoding = len(batch) + len(joining)
                for job in joining:
                    job.started_at = time.perf_counter()
                events = batch.add([job.inputs for job in joining], [job.settings for job in joining], joining)
                events += batch.step()
            except Exception as error:  # the server must keep serving whatever one batch did
                for job in {id(job): job for job in [a.key for a in batch.answers] + joining}.values():
                    job.emit("error", _failure(error))
                    self.served += 1
                batch = self.engine.batch()
                self.decoding = 0
                continue
            for answer, piece in events:
                job = answer.key
                if answer.error is not None:
                    job.emit("error", _failure(answer.error))
                elif piece and not job.unwanted:
                    job.emit("piece", piece)
                if answer.done:
                    if answer.error is None:
                        job.reply.__dict__.update(answer.reply.__dict__)
                        job.emit("done", job.reply)
                    self.served += 1
            self.decoding = len(batch)


# ---- request -> conversation -------------------------------------------------------------------


def decode_audio(audio: InputAudio, param: str, max_audio_seconds: float) -> np.ndarray:
    """base64 audio -> 16 kHz float32 mono `[samples]`; every failure is a 400 naming the part."""
    fmt = audio.format.lower().strip().lstrip(".")
    formats = supported_formats()
    if fmt not in formats:
        raise APIError(400, f"unsupported audio format {audio.format!r}; supported: {', '.join(formats)}",
                       param=f"{param}.format", code="unsupported_audio_format")
    data = audio.data
    if data.startswith("data:") and "," in data[:200]:
        data = data.split(",", 1)[1]
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise APIError(400, "input_audio.data is not valid base64", param=f"{param}.data", code="invalid_base64") from None
    if not raw:
        raise APIError(400, "input_audio.data is empty", param=f"{param}.data", code="invalid_audio")
    try:
        # The length is checked on the header before decoding: a small file may claim hours of 8-channel audio.
        return load_audio(raw, max_seconds=max_audio_seconds)
    except AudioTooLong as error:
        length = f"{error.seconds:.1f} s long" if error.seconds is not None else f"longer than {max_audio_seconds:g} s"
        raise APIError(400, f"audio is {length}; this server accepts at most {max_audio_seconds:g} s per clip "
                       "(split the recording)", param=f"{param}.data", code="audio_too_long") from None
    except AudioError as error:
        message = str(error).replace("audio bytes: ", "")
        raise APIError(400, f"input_audio.data could not be decoded as {fmt} audio: {message}",
                       param=f"{param}.data", code="invalid_audio") from None


def to_conversation(request: ChatRequest, audio_token: str, max_audio_seconds: float) -> list[dict]:
    """OpenAI messages -> the engine's conversation (audio decoded to arrays). Runs in a thread: decoding is CPU work."""
    conversation = []
    for i, message in enumerate(request.messages):
        role = "system" if message.role == "developer" else message.role
        if isinstance(message.content, str):
            parts: list = [TextPart(type="text", text=message.content)]
        else:
            parts = message.content
        if not parts:
            raise APIError(400, "content must not be empty", param=f"messages[{i}].content", code="invalid_value")
        content = []
        for j, part in enumerate(parts):
            param = f"messages[{i}].content" + ("" if isinstance(message.content, str) else f"[{j}]")
            if isinstance(part, TextPart):
                if audio_token in part.text:
                    raise APIError(400, f"text may not contain the model's audio placeholder {audio_token!r}",
                                   param=param, code="invalid_value")
                content.append({"type": "text", "text": part.text})
            else:
                if role != "user":
                    raise APIError(400, f"audio is accepted in user messages only, not in {message.role!r} ones",
                                   param=param, code="invalid_value")
                wave = decode_audio(part.input_audio, f"{param}.input_audio", max_audio_seconds)
                content.append({"type": "audio", "audio": wave})
        conversation.append({"role": role, "content": content})
    return conversation


def prepare_request(request: ChatRequest, engine: SpeechChat, max_audio_seconds: float) -> tuple[list[dict], Any]:
    """The request as (conversation, model inputs), every input error a 400, so that only work that fits is queued."""
    conversation = to_conversation(request, engine.processor.audio_token, max_audio_seconds)
    try:
        return conversation, engine.prepare(conversation)
    except PromptTooLong as error:
        raise APIError(400, str(error), param="messages", code="context_length_exceeded") from None
    except (AudioError, ValueError) as error:
        raise APIError(400, str(error), param="messages", code="invalid_input") from None


def generation_settings(request: ChatRequest, default_max_tokens: int) -> dict:
    settings: dict = {"max_new_tokens": request.max_completion_tokens or request.max_tokens or default_max_tokens}
    if request.temperature:  # None or 0 -> greedy, the engine's default
        settings.update(do_sample=True, temperature=request.temperature)
        if request.top_p is not None:
            settings["top_p"] = request.top_p
    if request.seed is not None:
        settings["seed"] = request.seed
    return settings


# ---- the app -----------------------------------------------------------------------------------


class BodyLimit:
    """ASGI middleware: a body over `max_bytes` gets a 413 on its declared length, before any of it is read, or
    as soon as it passes the limit; a body that has not all arrived `read_timeout_s` after its headers gets a 408.
    The rest of a refused upload is not kept: uvicorn drops it as it arrives, for at most the protocol's read
    deadline (closing at once would reset the connection, and the client would lose the 413 it has not read)."""

    def __init__(self, app, max_bytes: int, read_timeout_s: float):
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self.too_large(mib(int(declared)))(scope, receive, send)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.read_timeout_s
        chunks, size = [], 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0))
            except TimeoutError:
                error = APIError(408, f"the request body did not arrive within {self.read_timeout_s:g} s "
                                 "(send it at once, or raise the server's --read-timeout)",
                                 code="request_timeout", headers={"Connection": "close"})
                return await error.response()(scope, receive, send)
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:  # a chunked body declares no length
                return await self.too_large(f"over {mib(self.max_bytes)}")(scope, receive, send)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def too_large(self, amount: str) -> JSONResponse:
        return APIError(413, f"request body is {amount}; the limit is {mib(self.max_bytes)} "
                        "(send shorter or compressed audio, e.g. 16 kHz mono)",
                        code="request_too_large").response()


class Guard:
    """ASGI middleware, outermost: headers over MAX_HEADER_BYTES get a 431; only Host names on `allowed_hosts` are
    served (a DNS-rebinding web page points its own name at 127.0.0.1, so its requests carry that name); and with
    an `api_key`, only requests that send it as OpenAI's clients do, `Authorization: Bearer <key>`, reach /v1/
    (the demo page and /health stay open)."""

    def __init__(self, app, allowed_hosts: tuple[str, ...], api_key: str | None):
        self.app = app
        self.any_host = "*" in allowed_hosts
        self.allowed_hosts = {_host_name(h) for h in allowed_hosts}
        self.bearer = f"Bearer {api_key}".encode() if api_key else None

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        host = _host_name(headers.get(b"host", b"").decode("latin-1"))
        header_bytes = sum(len(k) + len(v) for k, v in scope.get("headers") or [])
        if header_bytes > MAX_HEADER_BYTES:
            error = APIError(431, f"request headers are {header_bytes / 2**10:.0f} KiB; the limit is "
                             f"{MAX_HEADER_BYTES // 2**10} KiB", code="headers_too_large")
        elif not self.any_host and host not in self.allowed_hosts:
            error = APIError(403, f"host {host!r} is not served here (DNS-rebinding protection); "
                             f"start the server with --allowed-hosts {host or '<name>'} to accept it",
                             code="host_not_allowed")
        elif self.bearer and scope["path"].startswith("/v1/") and not hmac.compare_digest(
                headers.get(b"authorization", b""), self.bearer):
            error = APIError(401, "missing or wrong API key: send the key the server was started with "
                             "(--api-key or VOXLM_API_KEY) as `Authorization: Bearer <key>`",
                             code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
        else:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        await error.response()(scope, receive, send)


def _host_name(host: str) -> str:
    """A Host header (or an allow-list entry) without its port: 'LocalHost:8000' -> 'localhost', '[::1]:80' -> '[::1]'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    if host.count(":") > 1:  # a bare IPv6 address in an allow-list
        return f"[{host}]"
    return host.partition(":")[0]


def create_app(
    engine: SpeechChat,
    *,
    max_request_bytes: int = 32 * 2**20,
    max_audio_seconds: float | None = None,
    request_timeout_s: float = 120.0,
    read_timeout_s: float = 30.0,
    max_queue: int = 32,
    max_batch: int = 16,
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS,
    api_key: str | None = None,
    model_name: str = "voxlm",
) -> FastAPI:
    """The HTTP app around one engine. `max_audio_seconds=None` takes the model's own limit; the prompt limit is
    the engine's `max_prompt_tokens`; `max_batch` requests decode together (a new one joins at the next token);
    `max_queue` counts requests admitted behind them (decoding their audio or waiting); `read_timeout_s` bounds
    the arrival of each request's headers and of its body; `allowed_hosts` may hold '*' (any)."""
    for name, value in (("max_request_bytes", max_request_bytes), ("request_timeout_s", request_timeout_s),
                        ("read_timeout_s", read_timeout_s), ("max_queue", max_queue), ("max_batch", max_batch)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value}")
    max_audio_seconds = min(max_audio_seconds or float("inf"), engine.processor.max_audio_seconds)
    worker = Worker(engine, max_queue, max_batch)
    created = int(time.time())
    admitting = 0  # requests past the queue check but not yet queued (decoding): the event loop's alone
    decode_slots = asyncio.Semaphore(DECODE_SLOTS)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        worker.start()
        yield
        await asyncio.to_thread(worker.stop)

    # No /docs: Swagger UI would pull its scripts from a CDN; /openapi.json describes the API.
    app = FastAPI(title="voxlm", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.worker = worker
    app.state.read_timeout_s = read_timeout_s  # for the protocol's header deadline (`server_config`)
    limits = {"max_audio_seconds": max_audio_seconds, "max_prompt_tokens": engine.max_prompt_tokens,
              "max_request_bytes": max_request_bytes, "request_timeout_s": request_timeout_s,
              "read_timeout_s": read_timeout_s, "max_queue": max_queue, "max_batch": max_batch}

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return validation_error(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        kind = "not_found" if exc.status_code == 404 else "method_not_allowed" if exc.status_code == 405 else None
        message = f"no route {request.method} {request.url.path}" if kind else str(exc.detail)
        return APIError(exc.status_code, message, code=kind, headers=getattr(exc, "headers", None)).response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        return APIError(500, f"internal error: {type(exc).__name__}: {exc}", type="server_error").response()

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": model_name, "busy": worker.busy, "decoding": worker.decoding,
                "waiting": worker.jobs.qsize(),
                "admitting": admitting, "max_queue": max_queue, "served": worker.served, "limits": limits}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": model_name, "object": "model", "created": created, "owned_by": "voxlm"}]}

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html")

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatRequest, request: Request):
        nonlocal admitting
        deadline = time.perf_counter() + request_timeout_s
        if body.model is not None and body.model != model_name:
            raise APIError(404, f"model {body.model!r} is not served here; use {model_name!r} (see GET /v1/models)",
                           param="model", code="model_not_found")
        busy = APIError(503, f"the server is busy: {max_queue} requests are already waiting; retry in a few seconds",
                        type="server_error", code="queue_full", headers={"Retry-After": "2"})
        # Shed load before decoding: requests still decoding count against the queue, so at most `max_queue`
        # decoded requests exist at once, and only DECODE_SLOTS of them decode at a time.
        if worker.jobs.qsize() + admitting >= max_queue:
            raise busy
        admitting += 1
        try:
            async with decode_slots:
                conversation, inputs = await asyncio.to_thread(prepare_request, body, engine, max_audio_seconds)
            job = Job(conversation, inputs, generation_settings(body, engine.max_new_tokens),
                      asyncio.get_running_loop(), deadline)
            worker.submit(job)
        except queue.Full:
            raise busy from None
        finally:
            admitting -= 1
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        disconnected = asyncio.create_task(_wait_for_disconnect(request))
        try:
            # The first event decides the status code: an input error or a timeout in the queue is still a 4xx/5xx.
            first = await _next_event(job, deadline, disconnected)
        except BaseException:
            job.cancelled.set()
            disconnected.cancel()
            raise
        if first[0] == "error":
            disconnected.cancel()
            raise first[1]
        if body.stream:
            disconnected.cancel()  # from here the streaming response notices a departed client itself
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(
                _sse(job, first, deadline, completion_id, model_name, include_usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        try:
            event = first
            while event[0] == "piece":
                event = await _next_event(job, deadline, disconnected)
        finally:
            job.cancelled.set()  # a no-op when done; stops generation on timeout or disconnect
            disconnected.cancel()
        if event[0] == "error":
            raise event[1]
        reply: Reply = event[1]
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                         "finish_reason": reply.finish_reason, "logprobs": None}],
            "usage": _usage(reply),
            "timings": _timings(job),
        }

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit, max_bytes=max_request_bytes, read_timeout_s=read_timeout_s)
    app.add_middleware(Guard, allowed_hosts=tuple(allowed_hosts), api_key=api_key)  # added last: runs first
    return app


async def _wait_for_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _next_event(job: Job, deadline: float, disconnected: asyncio.Task | None) -> tuple[str, Any]:
    """The job's next event, or an error event when the deadline passes or the client leaves."""
    getter = asyncio.ensure_future(job.events.get())
    remaining = deadline - time.perf_counter()
    waiting = {getter} if disconnected is None else {getter, disconnected}
    done, _ = await asyncio.wait(waiting, timeout=max(remaining, 0), return_when=asyncio.FIRST_COMPLETED)
    if getter in done:
        return getter.result()
    getter.cancel()
    job.cancelled.set()
    if disconnected is not None and disconnected in done:
        return ("error", APIError(499, "client closed the request", code="client_closed"))
    where = "waiting in the queue" if job.started_at is None else "generating"
    return ("error", APIError(504, f"request timed out after {deadline - job.queued_at:.0f} s ({where}); "
                              "ask for fewer tokens or retry when the server is less busy",
                              type="server_error", code="timeout"))


def _usage(reply: Reply) -> dict:
    return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens}


def _timings(job: Job) -> dict:
    """Server-side seconds (beyond OpenAI's schema; clients ignore it): queue wait, first token, total."""
    start = job.started_at or job.queued_at
    return {"queue_s": round(start - job.queued_at, 4),
            "first_token_s": None if job.reply.seconds_to_first_token is None else round(job.reply.seconds_to_first_token, 4),
            "total_s": round(job.reply.seconds_total, 4)}


async def _sse(job: Job, first: tuple, deadline: float, completion_id: str, model_name: str,
               include_usage: bool) -> AsyncIterator[str]:
    """OpenAI chunk events: the role, one chunk per piece, the finish reason, (usage), then `[DONE]`.

    A client that leaves makes the response fail at its next write, which closes this generator and
    cancels the job (the `finally`).
    """
    created = int(time.time())

    def event(choices: list, **extra) -> str:
        payload = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model_name,
                   "choices": choices, **extra}
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    def delta(content: dict, finish_reason: str | None = None) -> str:
        return event([{"index": 0, "delta": content, "finish_reason": finish_reason, "logprobs": None}])

    try:
        yield delta({"role": "assistant", "content": ""})
        current = first
        while current[0] == "piece":
            yield delta({"content": current[1]})
            current = await _next_event(job, deadline, None)
        if current[0] == "error":
            # The 200 headers are gone already: the error travels as an event, which OpenAI's clients raise.
            yield f"data: {json.dumps(current[1].body())}\n\n"
        else:
            reply: Reply = current[1]
            yield delta({}, reply.finish_reason)
            if include_usage:
                yield event([], usage=_usage(reply))
        yield "data: [DONE]\n\n"
    finally:
        job.cancelled.set()


# ---- running it --------------------------------------------------------------------------------


class ReadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, plus a deadline for each request's headers, counted from the connection or from the
    previous response: a slow-header (slowloris) or silent connection is closed instead of held open. uvicorn's
    keep-alive timer stops at the first byte of the next request; this one runs until its headers are complete.
    (The body's deadline is `BodyLimit`'s; h11 also caps the size of the headers, 16 KiB by default.)"""

    def __init__(self, *args, read_timeout_s: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.read_timeout_s = read_timeout_s
        self._head_timer: asyncio.TimerHandle | None = None
        self._awaited_cycle = None

    def _await_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._awaited_cycle = self.cycle  # the head has arrived once `self.cycle` is a new one
        self._head_timer = self.loop.call_later(self.read_timeout_s, self.transport.close)

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._await_head()

    def on_response_complete(self) -> None:
        self._await_head()  # first: the base class may go on to a pipelined request at once
        super().on_response_complete()

    def handle_events(self) -> None:
        super().handle_events()
        if self._head_timer is not None and self.cycle is not self._awaited_cycle:
            self._head_timer.cancel()
            self._head_timer = None

    def connection_lost(self, exc) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)


def server_config(app: FastAPI, host: str = "127.0.0.1", port: int = 8000):
    """The uvicorn settings `voxlm serve` runs with (and the tests and benchmarks too)."""
    import functools

    import uvicorn

    protocol = functools.partial(ReadDeadlineProtocol, read_timeout_s=app.state.read_timeout_s)
    return uvicorn.Config(app, host=host, port=port, http=protocol, log_level="warning", lifespan="on")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextmanager
def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int | None = None,
                    startup_timeout: float = 30.0) -> Iterator[str]:
    """Run `app` under uvicorn in a background thread (tests, benchmarks); yields its base URL and stops it on exit."""
    import uvicorn

    port = port or free_port(host)
    server = uvicorn.Server(server_config(app, host, port))
    thread = threading.Thread(target=server.run, name="voxlm-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"uvicorn did not start on {host}:{port} within {startup_timeout:g} s")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


# ---- the CLI verb ------------------------------------------------------------------------------


def _checked(kind: type, low: float, high: float | None = None, *, low_open: bool = False):
    """An argparse `type` for numbers in [low, high] (or (low, high] with `low_open`): a bad value is a usage
    error at once, before seconds of model loading."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if value != value or (value <= low if low_open else value < low) or (high is not None and value > high):
            bound = f"> {low:g}" if low_open else f">= {low:g}" if high is None else f"{low:g}..{high:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return parse


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    positive = _checked(float, 0, low_open=True)
    parser.add_argument("--model", help=MODEL_HELP)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=_checked(int, 1, 65535), default=8000)
    parser.add_argument("--max-new-tokens", type=_checked(int, 1), default=256,
                        help="answer length when a request sets no max_tokens")
    parser.add_argument("--max-batch", type=_checked(int, 1), default=16,
                        help="requests decoded together; one arriving meanwhile joins at the next token")
    parser.add_argument("--max-queue", type=_checked(int, 1), default=32,
                        help="requests admitted behind the ones generating (decoding audio or waiting); more get 503")
    parser.add_argument("--timeout", type=positive, default=120.0, help="seconds per request, queue wait included")
    parser.add_argument("--read-timeout", type=positive, default=30.0,
                        help="seconds a client has to send a request's headers, and then its body")
    parser.add_argument("--max-request-mb", type=positive, default=32.0,
                        help="largest request body in MiB (base64 audio included)")
    parser.add_argument("--max-audio-seconds", type=positive, default=None, help="longest clip (default: the model's limit)")
    parser.add_argument("--max-prompt-tokens", type=_checked(int, 1), default=None,
                        help="longest prompt, audio positions included (default: the LLM's context)")
    parser.add_argument("--allowed-hosts", nargs="+", default=list(LOOPBACK_HOSTS), metavar="HOST",
                        help="Host names served, '*' for any (default: loopback names; --host is added)")
    parser.add_argument("--api-key", default=os.environ.get("VOXLM_API_KEY") or None,
                        help="require `Authorization: Bearer KEY` on /v1/ (default: $VOXLM_API_KEY; none: open)")


def listen(host: str, port: int) -> socket.socket:
    """The bound, listening socket, or a one-line error naming the fix."""
    try:
        return socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as error:
        raise ValueError(f"cannot listen on {host}:{port}: {error.strerror or error} "
                         "(is another server running there? pick another --port or --host)") from None


def run_serve(args: argparse.Namespace) -> int:
    """Bind the port, load the model once, then serve until Ctrl-C."""
    import uvicorn

    sock = listen(args.host, args.port)  # a taken port fails now, not after the model has loaded
    engine = SpeechChat.load(args.model, max_new_tokens=args.max_new_tokens, max_prompt_tokens=args.max_prompt_tokens)
    name = f"voxlm-{Path(args.model).resolve().name}" if args.model else "voxlm-default"
    hosts = [*args.allowed_hosts, *([] if args.host in ("0.0.0.0", "::") else [args.host])]
    app = create_app(engine, max_request_bytes=int(args.max_request_mb * 2**20), max_audio_seconds=args.max_audio_seconds,
                     request_timeout_s=args.timeout, read_timeout_s=args.read_timeout, max_queue=args.max_queue,
                     max_batch=args.max_batch, allowed_hosts=tuple(hosts), api_key=args.api_key, model_name=name)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"voxlm serve: {name} at http://{shown}:{args.port}/ (API: /v1/chat/completions"
          f"{', API key required' if args.api_key else ''})", flush=True)
    uvicorn.Server(server_config(app)).run(sockets=[sock])
    return 0


if __name__ == "__main__":  # `python -m voxlm.serve.server ...`, the same as `voxlm serve ...`
    import sys

    from ..cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))
