"""`voxlm voices` (every voice, its engine, split and status) and `voxlm say` (text -> a wav file)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Sequence

import soundfile as sf

from voxlm.audio.io import SAMPLING_RATE
from voxlm.files import write_atomic
from voxlm.tts.registry import ENGINES, list_voices, speak, voice_info


def add_voices_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of `voxlm voices`, for voxlm/cli.py to attach to its subparser."""
    parser.add_argument("--engine", choices=list(ENGINES), help="only this engine's voices")
    parser.add_argument("--split", choices=["train", "held_out"], help="only the voices of this split")
    return parser


def run_voices(args: argparse.Namespace | Sequence[str] | None = None) -> int:
    """Print every voice: name, engine, split, availability (and what to install), description.

    `args` is a parsed Namespace (with optional `engine` / `split`), an argv list, or None.
    """
    if args is None or not isinstance(args, argparse.Namespace):
        args = add_voices_arguments(argparse.ArgumentParser(prog="voxlm voices")).parse_args(list(args or []))
    names = list_voices(engine=getattr(args, "engine", None), split=getattr(args, "split", None))
    reasons = {engine: None for engine in ENGINES}
    for engine in reasons:  # one check per engine, not per voice
        reasons[engine] = voice_info(list_voices(engine=engine)[0]).unavailable_reason()
    width = max(len(n) for n in names) if names else 10
    print(f"{'voice':<{width}}  {'engine':<7} {'split':<9} {'status':<9} description")
    for name in names:
        info = voice_info(name)
        status = "ok" if reasons[info.engine] is None else "missing"
        print(f"{name:<{width}}  {info.engine:<7} {info.split:<9} {status:<9} {info.description}")
    missing = {e: r for e, r in reasons.items() if r is not None}
    for engine, reason in missing.items():
        print(f"\n{engine}: {reason}")
    print(f"\n{len(names)} voices ({len(list_voices(split='train'))} train, "
          f"{len(list_voices(split='held_out'))} held out in all)")
    return 0


def add_say_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text")
    parser.add_argument("--voice", default="piper:joe", help="a name from `voxlm voices`")
    parser.add_argument("-o", "--output", default="say.wav", help="16 kHz wav to write")


def run_say(args: argparse.Namespace) -> int:
    """Speak text with one voice into a wav file."""
    say_to_file(args.text, args.voice, args.output)
    return 0


def say_to_file(text: str, voice: str, out_path: str | os.PathLike) -> Path:
    """Speak `text` with `voice` into a 16 kHz 16-bit mono wav at `out_path` (written atomically)."""
    wave = speak(text, voice)
    out = write_atomic(out_path, lambda tmp: sf.write(str(tmp), wave, SAMPLING_RATE, subtype="PCM_16", format="WAV"))
    print(f"{out}: {len(wave) / SAMPLING_RATE:.2f} s, {voice}")
    return out
