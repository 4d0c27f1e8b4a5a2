"""`voxlm chat` (answer an audio file, streamed) and `voxlm transcribe` (what the connector hears)."""

from __future__ import annotations

import argparse
import sys

from ..model.shipped import MODEL_HELP


def add_chat_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", help="audio file (wav, flac, ogg, mp3, ...)")
    parser.add_argument("--prompt", help="text after the audio, e.g. 'Summarize this.' (default: the audio is the instruction)")
    parser.add_argument("--model", help=MODEL_HELP)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--timing", action="store_true", help="print time-to-first-token and total latency to stderr")


def run_chat(args: argparse.Namespace) -> int:
    """Answer one audio file, streaming the tokens to stdout."""
    from ..audio.io import load_audio
    from ..model import VoxLMConfig, resolve_checkpoint
    from .chat import Reply, SpeechChat, audio_question

    # Fail on bad or over-long audio before spending seconds loading the model: the limit is in its config file.
    folder = resolve_checkpoint(args.model)  # an unknown name fails here, before the audio is read
    limit = VoxLMConfig.from_pretrained(folder).max_audio_seconds if folder and (folder / "config.json").is_file() else None
    wave = load_audio(args.audio, max_seconds=limit)
    engine = SpeechChat.load(args.model, max_new_tokens=args.max_new_tokens)
    reply = Reply(text="", prompt_tokens=0, completion_tokens=0)
    for piece in engine.stream(audio_question(wave, args.prompt), reply=reply):
        print(piece, end="", flush=True)
    print()
    if args.timing:
        print(
            f"time to first token {reply.seconds_to_first_token or 0:.2f} s, total {reply.seconds_total:.2f} s, "
            f"{reply.completion_tokens} tokens",
            file=sys.stderr,
        )
    return 0


def add_transcribe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", nargs="+", help="audio files (wav, flac, ogg, mp3, ...)")
    parser.add_argument("--model", help=MODEL_HELP)
    parser.add_argument("--batch-size", type=int, default=8, help="clips encoded together")
    parser.add_argument("--beams", type=int,
                        help="with the LLM's fusion: rescore each clip's N best transcripts as wholes (`lm_fusion_beams`; "
                             "default: the checkpoint's own). 8 hears a little better at about 5x the fusion's cost (docs/fusion)")


def run_transcribe(args: argparse.Namespace) -> int:
    """Print what the model hears in each file: the connector's CTC transcript, with the LLM's fusion when the
    checkpoint sets `lm_fusion_weight` (one file: the text alone; several: `path<TAB>text` lines)."""
    from ..audio.io import load_audio
    from .chat import SpeechChat

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.beams is not None and args.beams < 1:
        raise ValueError(f"--beams must be at least 1, got {args.beams}")
    waves = [load_audio(path) for path in args.audio]  # fail on bad audio before loading the model
    engine = SpeechChat.load(args.model, None if args.beams is None else {"lm_fusion_beams": args.beams})
    for start in range(0, len(waves), args.batch_size):
        texts = engine.transcribe(waves[start : start + args.batch_size])
        for path, text in zip(args.audio[start : start + args.batch_size], texts):
            print(text if len(args.audio) == 1 else f"{path}\t{text}", flush=True)
    return 0
