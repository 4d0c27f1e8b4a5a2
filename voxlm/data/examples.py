"""Training examples: the JSONL every data step writes, the trainer reads, and users bring.

One line per example:

    {"id": "mtbi-000001",
     "messages": [{"role": "user", "content": [
         {"type": "text", "text": "Give this a title."},
         {"type": "audio", "audio": "<clip id or path>", "text": "<its transcript>"}]}],
     "response": "<what the model should answer>"}

InSerter samples (`voxlm interleave`, records with `segments`, see interleave.py) may share a file
with them. Audio parts name a clip in a synth dataset (`voxlm synth`, with cached frames from `voxlm
features`) or an audio file (relative to the JSONL). The transcript in `text` lets the same
example be shown to the text LLM as a teacher (KL distillation) and to the text baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from torch.utils.data import Dataset

from ..model import VoxLMProcessor
from ..audio.io import SAMPLING_RATE
from ..files import read_jsonl, write_jsonl_atomic
from ..model.processing_voxlm import clip_frames, log_mel, split_windows, window_frames
from .interleave import InterleavedSample, build_inputs


@dataclass
class Example:
    id: str
    messages: list[dict]
    response: str

    def audio_parts(self) -> list[dict]:
        return [p for m in self.messages if not isinstance(m["content"], str) for p in m["content"] if p["type"] == "audio"]

    def as_text(self) -> list[dict]:
        """The same conversation with each audio part replaced by its transcript (the teacher's view)."""
        messages = []
        for message in self.messages:
            content = message["content"]
            if not isinstance(content, str):
                # Joined exactly as VoxLMProcessor.apply_chat_template joins parts, so both views line up.
                content = "\n".join(p["text"] for p in content)
            messages.append({**message, "content": content})
        return messages


def _check(record: object, where: str) -> Example:
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object")
    missing = {"id", "messages", "response"} - set(record)
    if missing:
        raise ValueError(f"{where}: missing field(s) {sorted(missing)}; an example needs id, messages, response")
    if not isinstance(record["messages"], list) or not record["messages"]:
        raise ValueError(f"{where}: 'messages' must be a non-empty list of {{role, content}} objects")
    for message in record["messages"]:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for part in content:
                if not isinstance(part, dict) or part.get("type") not in ("text", "audio"):
                    raise ValueError(f"{where}: content parts are {{'type': 'text'|'audio', ...}}, got {part!r}")
                if part["type"] == "audio" and not part.get("audio"):
                    raise ValueError(f"{where}: an audio part needs 'audio' (a clip id or a file path)")
        elif not isinstance(content, str):
            raise ValueError(f"{where}: each message needs a 'content' string or list of parts")
    return Example(id=str(record["id"]), messages=record["messages"], response=str(record["response"]))


def read_examples(path: str | Path) -> list["Example | InterleavedSample"]:
    """Parse a JSONL file of examples (chat form, or InSerter samples with `segments`); errors name the line."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"example file {path} not found (the data steps `voxlm imitate` / `voxlm interleave` write them)")
    examples = []
    for number, record in read_jsonl(path):
        if "segments" in record:
            try:
                examples.append(InterleavedSample.from_dict(record))
            except (KeyError, TypeError) as error:
                raise ValueError(f"{path}:{number}: not an interleaved sample ({error})") from None
        else:
            examples.append(_check(record, f"{path}:{number}"))
    return examples


def write_examples(path: str | Path, examples: Iterable[Example | dict]) -> int:
    """Write examples (or any records) as JSONL, atomically; returns the count."""
    return write_jsonl_atomic(path, (vars(e) if isinstance(e, Example) else e for e in examples))


AudioLookup = Callable[[str], "np.ndarray | tuple[str, np.ndarray]"]


class ExampleDataset(Dataset):
    """Examples -> per-example model inputs, with audio as cached encoder frames or raw waves.

    `frames(ref) -> [frames, dim]` (a `FeatureStore`) is used when given; otherwise `wave(ref)`
    (16 kHz audio) is turned into Whisper features here, which costs an encoder pass per step.
    Items: `input_ids [L]`, `labels [L]`, `audio_lengths [windows]`, and `audio_frames` (list of
    `[frames, dim]`, one per 30 s window) or `input_features [windows, mels, 3000]`; with
    `teacher=True` also `teacher_input_ids`/`teacher_labels` (the transcript instead of the audio).
    With `ctc_blank_id` (the model's alignment blank) also, per audio window, `ctc_labels` (its clip's
    transcript as CTC targets, `transcript_token_ids`) and `ctc_scored`: False for the windows of a clip
    longer than one 30 s window or without a transcript, which have no targets of their own.
    """

    def __init__(self, examples: list[Example], processor: VoxLMProcessor, frames=None, wave=None,
                 max_target_tokens: int | None = None, teacher: bool = False, ctc_blank_id: int | None = None):
        if frames is None and wave is None:
            raise ValueError("ExampleDataset needs cached frames (a FeatureStore) or a wave lookup")
        self.examples, self.processor = examples, processor
        self.frames, self.wave = frames, wave
        self.max_target_tokens, self.teacher = max_target_tokens, teacher
        self.ctc_blank_id = ctc_blank_id

    def _ctc_targets(self, transcripts: list[str | None], windows_per_clip: list[int]) -> dict:
        from .transcripts import transcript_token_ids  # transcripts.py reads examples: imported here, not above

        labels, scored = [], []
        for text, windows in zip(transcripts, windows_per_clip):
            ids = transcript_token_ids(self.processor.tokenizer, text, self.ctc_blank_id) if text else []
            one = windows == 1 and bool(ids)
            labels += [torch.tensor(ids if one else [], dtype=torch.long)] * windows
            scored += [one] * windows
        return {"ctc_labels": labels, "ctc_scored": torch.tensor(scored, dtype=torch.bool)}

    def __len__(self) -> int:
        return len(self.examples)

    def _target(self, response: str) -> str:
        if self.max_target_tokens is None:
            return response
        ids = self.processor.tokenizer(response, add_special_tokens=False).input_ids[: self.max_target_tokens]
        return self.processor.tokenizer.decode(ids)

    def _interleaved(self, sample: InterleavedSample) -> dict:
        if self.teacher:
            raise ValueError(f"kl_weight > 0 needs chat examples with transcripts; InSerter sample {sample.doc_id!r} has no "
                             "teacher view (set kl_weight=0 for the inserter recipe)")
        refs = [segment.audio for segment in sample.speech_segments]
        if self.frames is not None:
            clips = [np.asarray(self.frames[ref], dtype=np.float32) for ref in refs]
        else:
            clips = [self.processor.load(self.wave(ref), SAMPLING_RATE) for ref in refs]
        item = build_inputs(sample, clips, self.processor)
        if self.ctc_blank_id is not None:
            # Cached frames are one window a clip (build_inputs checks); a raw clip may run longer.
            per_clip = [1] * len(clips) if self.frames is not None else [len(self.processor.windows(c)) for c in clips]
            item.update(self._ctc_targets([segment.text for segment in sample.speech_segments], per_clip))
        return item

    def __getitem__(self, index: int) -> dict:
        example = self.examples[index]
        if isinstance(example, InterleavedSample):
            return self._interleaved(example)
        processor = self.processor
        prompt, refs = processor.apply_chat_template(example.messages)
        target = self._target(example.response)
        item: dict = {}
        if self.frames is not None:
            clips = [np.asarray(self.frames[ref], dtype=np.float32) for ref in refs]
            counts = [processor.frames_token_count(len(c)) for c in clips]
            split = [split_windows(c) for c in clips]
            per_clip = [len(ws) for ws in split]
            windows = [torch.from_numpy(w.copy()) for ws in split for w in ws]
            item["audio_frames"] = windows
            item["audio_lengths"] = torch.tensor([len(w) for w in windows], dtype=torch.long)
        else:
            waves = [processor.load(self.wave(ref), SAMPLING_RATE) for ref in refs]
            counts = [processor.audio_token_count(w) for w in waves]
            split = [processor.windows(wave) for wave in waves]
            per_clip = [len(ws) for ws in split]
            windows = [w for ws in split for w in ws]
            if windows:
                item["input_features"] = torch.from_numpy(log_mel(processor.feature_extractor, windows))
                item["audio_lengths"] = torch.tensor(
                    [n for wave in waves for n in window_frames(clip_frames(wave.size))], dtype=torch.long)
        if self.ctc_blank_id is not None:
            item.update(self._ctc_targets([part.get("text") for part in example.audio_parts()], per_clip))
        encoded = processor.encode_text([prompt], counts, [target])
        item["input_ids"], item["labels"] = encoded["input_ids"][0], encoded["labels"][0]
        if self.teacher:
            text_prompt, _ = processor.apply_chat_template(example.as_text())
            teacher = processor.encode_text([text_prompt], [], [target])
            item["teacher_input_ids"], item["teacher_labels"] = teacher["input_ids"][0], teacher["labels"][0]
        return item


def iter_examples(paths: Iterable[str | Path]) -> Iterator[Example]:
    for path in paths:
        yield from read_examples(path)
