"""Everyday spoken questions with a known answer word: does the model answer from speech as its LLM does from text?

    python bench/spoken_questions.py [--model CKPT] [--interface projector|soft_tokens] [--voices V,V] [--out F.json]

Each question is spoken by each voice (by default three held-out voices, none heard in training) and
answered greedily; an answer is right when it contains one of the question's expected words. Beside
each answer the connector's own CTC transcript shows what the model heard. The
same questions as text give the LLM's own score (the ceiling), and the bundled sample clip is asked
too. Prints every answer and a summary; writes JSON. None of these questions is in the default
training data (the nearest there is one spoken instruction asking for the capital of India). A quick
check with 11 questions, not a benchmark: `voxlm eval` is that.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch

from voxlm.serve.engine import SpeechChat, audio_question
from voxlm.tts import speak

SAMPLE = Path(__file__).resolve().parents[1] / "voxlm" / "samples" / "capital_of_france.flac"
SAMPLE_QUESTION = ("What is the capital of France? Answer in one sentence.", ("Paris",))
QUESTIONS = [
    ("What is the capital of Italy? Answer in one sentence.", ("Rome",)),
    ("What is the capital of Japan? Answer in one sentence.", ("Tokyo",)),
    ("How many days are there in a week?", ("seven", "7")),
    ("What is the largest ocean on Earth?", ("Pacific",)),
    ("What language is spoken in Brazil?", ("Portuguese",)),
    ("What color is the sky on a clear day?", ("blue",)),
    ("How many legs does a spider have?", ("eight", "8")),
    ("What is the opposite of hot?", ("cold",)),
    ("Which planet do we live on?", ("Earth",)),
    ("What do bees make?", ("honey",)),
]


def right(answer: str, expected: tuple[str, ...]) -> bool:
    return any(re.search(rf"\b{re.escape(word)}\b", answer, re.IGNORECASE) for word in expected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="VoxLM checkpoint (default: the embedded default)")
    parser.add_argument("--interface", help="projector | soft_tokens (default: the checkpoint's own)")
    parser.add_argument("--voices", default="kokoro:nezumi+kumo,flite:awb,espeak:en-us-nyc")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    voices = args.voices.split(",")
    chat = SpeechChat.load(args.model, {"interface": args.interface} if args.interface else None,
                           max_new_tokens=args.max_new_tokens)

    rows = []
    for question, expected in [SAMPLE_QUESTION, *QUESTIONS]:
        asked = [("text", [{"role": "user", "content": [{"type": "text", "text": question}]}], None)]
        if question == SAMPLE_QUESTION[0]:
            asked.append(("sample clip", audio_question(str(SAMPLE)), str(SAMPLE)))
        else:
            for voice in voices:
                wave = speak(question, voice)
                asked.append((voice, audio_question(wave), wave))
        for source, conversation, audio in asked:
            answer = chat.reply(conversation).text
            heard = chat.transcribe([audio])[0] if audio is not None else None
            rows.append({"question": question, "input": source, "heard": heard, "answer": answer,
                         "right": right(answer, expected)})
            print(f"[{'x' if rows[-1]['right'] else ' '}] {source:>12} | {heard or question} -> {answer!r}", flush=True)

    def score(inputs) -> float:
        picked = [r["right"] for r in rows if r["input"] in inputs and r["question"] != SAMPLE_QUESTION[0]]
        return sum(picked) / len(picked)

    summary = {"text": score({"text"}), **{voice: score({voice}) for voice in voices}}
    speech = sum(summary[v] for v in voices) / len(voices)
    summary["speech/text"] = speech / summary["text"] if summary["text"] else None
    summary["sample clip right"] = next(r["right"] for r in rows if r["input"] == "sample clip")
    print(json.dumps(summary, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps({"model": args.model or "default", "interface": chat.model.config.interface,
                                              "summary": summary, "answers": rows}, indent=2))


if __name__ == "__main__":
    main()
