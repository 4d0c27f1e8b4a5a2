"""The benchmarks' audio: each record's clip, synthesized once and cached under a name that hashes its content.

    build_clips(records, out_dir, speak=None, progress=False, desc="instruct audio")
    records[0]["audio_path"]    # "audio/<key>-<hash>.wav", relative to out_dir

A record says what to say and how: `spoken_text`, `voice`, and optionally `augmentation` (an
`Augmentation` as a dict) with its `augmentation_seed`. The instruct, generalize and asr sets
all make their synthetic clips here, through the same `render_speech` as `voxlm synth`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import numpy as np

from ..audio.augment import Augmentation
from ..audio.io import SAMPLING_RATE
from ..data.speech import Speak, render_speech
from ..files import write_atomic


def content_hash(*parts: object) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def cached_clip(path: Path, make: Callable[[], np.ndarray]) -> Path:
    """`path` (a 16 kHz wav); made with `make()` only when it does not exist yet.

    Clip names carry a hash of everything that shapes the audio (text, voice, augmentation), so
    an existing file is always the right one and reruns synthesize nothing.
    """
    if not path.is_file():
        import soundfile as sf

        wave = np.clip(np.asarray(make(), np.float32), -1.0, 1.0)
        write_atomic(path, lambda tmp: sf.write(str(tmp), wave, SAMPLING_RATE, subtype="PCM_16", format="WAV"))
    return path


def render_clip(record: dict, speak: Speak | None = None) -> np.ndarray:
    """The 16 kHz audio of a record with `spoken_text`, `voice` and optionally `augmentation` + `augmentation_seed`."""
    spec = record.get("augmentation")
    if not spec:
        return render_speech(record["spoken_text"], record["voice"], speak=speak)
    return render_speech(record["spoken_text"], record["voice"], Augmentation.from_dict(spec),
                         record["augmentation_seed"], speak)


def build_clips(records: list[dict], out_dir: Path, speak: Speak | None = None, progress: bool = False,
                desc: str = "audio") -> None:
    """Give each record an `audio_path` under `out_dir/audio`, synthesizing only missing clips.

    `speak(text, voice) -> 16 kHz wave` defaults to voxlm's TTS.
    """
    from tqdm.auto import tqdm

    for record in tqdm(records, desc=desc, unit="clip", disable=not progress):
        digest = content_hash(record["spoken_text"], record["voice"], record.get("augmentation"),
                              record.get("augmentation_seed"))
        name = f"audio/{record['key']}-{digest}.wav"
        cached_clip(out_dir / name, lambda: render_clip(record, speak))
        record["audio_path"] = name
