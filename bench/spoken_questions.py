"""Everyday spoken questions with a known answer word: does the model answer from speech as its LLM does from text?

    python bench/spoken_questions.py [--model CKPT] [--interface projector|soft_tokens] [--blank-threshold P]
                                     [--set small|large]
                                     [--lm-fusion-weight W] [--lm-fusion-beams N]
                                     [--cascade] [--heard-as-text] [--voices V,V] [--out F.json]
    python bench/spoken_questions.py --check-corpora      # none of the questions is in any source text

Each question is spoken by each voice (by default three held-out voices, none heard in training) and
answered greedily; an answer is right when it contains one of the question's expected words. Beside
each answer the connector's own CTC transcript shows what the model heard. The same questions as
text give the LLM's own score (the ceiling); with `--cascade`, Whisper's transcript of each clip is
answered by the same LLM too; with `--heard-as-text`, the model's own transcript of each clip (so a wrong
answer from speech shows whether the transcript or the reading of it lost the question). The bundled
sample clip is asked as well. `--set small` is 10 questions, `--set large` 42. Prints every answer and a summary; writes JSON. `--check-corpora`
searches every text the default data is drawn from (all of ShareGPT, fortunes, GCIDE and the
questions built from them, a superset of the training text) for each question and fails if one is
there. (The sample's question is a ShareGPT instruction, but not one of the rows the default data
uses.) A quick check, not a benchmark: `voxlm eval` is that.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch

from voxlm.eval.baselines import WhisperASR
from voxlm.inference import SpeechChat, audio_question
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
MORE_QUESTIONS = [
    ("What is the capital of Spain? Answer in one sentence.", ("Madrid",)),
    ("What is the capital of Germany? Answer in one sentence.", ("Berlin",)),
    ("What is the capital of England? Answer in one sentence.", ("London",)),
    ("What is the capital of Canada? Answer in one sentence.", ("Ottawa",)),
    ("How many hours are there in a day?", ("24", "twenty-four", "twenty four")),
    ("How many months are there in a year?", ("twelve", "12")),
    ("How many minutes are there in an hour?", ("sixty", "60")),
    ("How many wheels does a bicycle have?", ("two", "2")),
    ("How many continents are there on Earth?", ("seven", "7")),
    ("At what temperature in Celsius does water freeze?", ("zero", "0")),
    ("What color are ripe bananas?", ("yellow",)),
    ("What color do you get when you mix blue and yellow?", ("green",)),
    ("What color is fresh grass?", ("green",)),
    ("Which animal says moo?", ("cow", "cows")),
    ("Which animal is called the king of the jungle?", ("lion", "lions")),
    ("What is the tallest animal in the world?", ("giraffe", "giraffes")),
    ("What do you call a baby dog?", ("puppy", "pup")),
    ("What do you call a baby cat?", ("kitten",)),
    ("Which planet is known as the red planet?", ("Mars",)),
    ("What is the star at the center of our solar system called?", ("Sun",)),
    ("What gas do plants take in from the air?", ("carbon dioxide", "CO2")),
    ("What gas do people need to breathe to stay alive?", ("oxygen",)),
    ("What is frozen water called?", ("ice",)),
    ("What is the opposite of up?", ("down",)),
    ("What is the opposite of night?", ("day",)),
    ("Which season comes after winter?", ("spring",)),
    ("What fruit is wine usually made from?", ("grape", "grapes")),
    ("What is the main language spoken in France?", ("French",)),
    ("Who wrote the play Romeo and Juliet?", ("Shakespeare",)),
    ("Which musical instrument has black and white keys?", ("piano",)),
    ("Which organ pumps blood around the body?", ("heart",)),
    ("What is the largest country in the world by area?", ("Russia",)),
]
SETS = {"small": QUESTIONS, "large": QUESTIONS + MORE_QUESTIONS}
SUFFIX = " Answer in one sentence."


def found_in_corpora(questions: list[str]) -> dict[str, str]:
    """question -> id of a source document (ShareGPT turn, fortune, GCIDE entry) that contains it, if any."""
    from voxlm.data.corpora.fortunes import fortune_documents
    from voxlm.data.corpora.gcide import gcide_documents
    from voxlm.data.corpora.questions import question_documents
    from voxlm.data.corpora.sharegpt import sharegpt_conversations
    from voxlm.data.corpora.text import canonical_text

    wanted = {canonical_text(q.removesuffix(SUFFIX)): q for q in questions}
    found: dict[str, str] = {}

    def look(doc_id: str, text: str) -> None:
        canonical = canonical_text(text)
        for key, question in wanted.items():
            if question not in found and key in canonical:
                found[question] = doc_id

    for conv in sharegpt_conversations():
        for turn, message in enumerate(conv.get("conversations") or []):
            if isinstance(message.get("value"), str):
                look(f"sharegpt:{conv.get('id')}.{turn}", message["value"])
    for doc in (*fortune_documents(), *gcide_documents(), *question_documents()):
        look(doc.id, doc.text)
    return found


def right(answer: str, expected: tuple[str, ...]) -> bool:
    return any(re.search(rf"\b{re.escape(word)}\b", answer, re.IGNORECASE) for word in expected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="VoxLM checkpoint (default: the embedded default)")
    parser.add_argument("--interface", help="projector | soft_tokens (default: the checkpoint's own)")
    parser.add_argument("--blank-threshold", type=float,
                        help="soft tokens: drop positions whose blank probability is over P (default: the checkpoint's own)")
    parser.add_argument("--lm-fusion-weight", type=float,
                        help="soft tokens: weight of the LLM's own scores among each position's candidates (default: the "
                             "checkpoint's own; 0: off)")
    parser.add_argument("--lm-fusion-beams", type=int,
                        help="soft tokens, with fusion: rescore this many best transcripts per clip as wholes "
                             "(default: the checkpoint's own; 1: position by position)")
    parser.add_argument("--voices", default="kokoro:nezumi+kumo,flite:awb,espeak:en-us-nyc")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", choices=SETS, default="small")
    parser.add_argument("--cascade", action="store_true", help="also answer Whisper's transcript of each clip")
    parser.add_argument("--heard-as-text", action="store_true",
                        help="also ask the model's own transcript of each clip as text: hearing apart from reading")
    parser.add_argument("--check-corpora", action="store_true", help="only check that no question is in a source text")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.check_corpora:
        questions = [q for q, _ in SETS["large"]]
        found = found_in_corpora(questions)
        for question, doc_id in found.items():
            print(f"in {doc_id}: {question}")
        print(f"{len(questions) - len(found)} of {len(questions)} questions are in none of the source texts")
        raise SystemExit(1 if found else 0)
    torch.set_num_threads(args.threads)
    voices = args.voices.split(",")
    overrides = {k: v for k, v in (("interface", args.interface), ("blank_threshold", args.blank_threshold),
                                   ("lm_fusion_weight", args.lm_fusion_weight),
                                   ("lm_fusion_beams", args.lm_fusion_beams)) if v is not None}
    chat = SpeechChat.load(args.model, overrides or None, max_new_tokens=args.max_new_tokens)
    asr = WhisperASR.for_encoder(chat.model.config.audio_model) if args.cascade else None

    rows = []
    for question, expected in [SAMPLE_QUESTION, *SETS[args.set]]:
        asked = [("text", [{"role": "user", "content": [{"type": "text", "text": question}]}], None)]
        if question == SAMPLE_QUESTION[0]:
            asked.append(("sample clip", audio_question(str(SAMPLE)), str(SAMPLE)))
        else:
            for voice in voices:
                wave = speak(question, voice)
                asked.append((voice, audio_question(wave), wave))
                if asr is not None:
                    heard = [{"role": "user", "content": [{"type": "text", "text": asr(wave)}]}]
                    asked.append((f"cascade:{voice}", heard, None))
        while asked:
            source, conversation, audio = asked.pop(0)
            answer = chat.reply(conversation).text
            heard = chat.transcribe([audio])[0] if audio is not None else None
            if source.startswith("heard:"):  # the transcript asked as text
                heard = conversation[0]["content"][0]["text"]
            rows.append({"question": question, "input": source, "heard": heard, "answer": answer,
                         "right": right(answer, expected)})
            print(f"[{'x' if rows[-1]['right'] else ' '}] {source:>12} | {heard or question} -> {answer!r}", flush=True)
            if args.heard_as_text and source in voices:
                asked.insert(0, (f"heard:{source}", [{"role": "user", "content": [{"type": "text", "text": heard}]}], None))

    def score(inputs) -> float:
        picked = [r["right"] for r in rows if r["input"] in inputs and r["question"] != SAMPLE_QUESTION[0]]
        return sum(picked) / len(picked)

    summary = {"text": score({"text"}), **{voice: score({voice}) for voice in voices}}
    speech = sum(summary[v] for v in voices) / len(voices)
    summary["speech/text"] = speech / summary["text"] if summary["text"] else None
    if asr is not None:
        summary |= {f"cascade:{voice}": score({f"cascade:{voice}"}) for voice in voices}
        cascade = sum(summary[f"cascade:{v}"] for v in voices) / len(voices)
        summary["cascade/text"] = cascade / summary["text"] if summary["text"] else None
    if args.heard_as_text:
        summary |= {f"heard:{voice}": score({f"heard:{voice}"}) for voice in voices}
    # Of the questions the LLM answers from text, how many it also answers from each voice (issue 17's bar).
    known = {r["question"] for r in rows if r["input"] == "text" and r["right"]} - {SAMPLE_QUESTION[0]}
    for voice in voices + [f"heard:{v}" for v in voices if args.heard_as_text]:
        summary[f"{voice} | text right"] = (sum(r["right"] for r in rows if r["input"] == voice and r["question"] in known)
                                             / len(known) if known else None)
    summary["sample clip right"] = next(r["right"] for r in rows if r["input"] == "sample clip")
    print(json.dumps(summary, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps({"model": args.model or "default", "interface": chat.model.config.interface,
                                              "blank_threshold": chat.model.config.blank_threshold,
                                              "lm_fusion_weight": chat.model.config.lm_fusion_weight,
                                              "lm_fusion_beams": chat.model.config.lm_fusion_beams,
                                              "set": args.set, "summary": summary, "answers": rows}, indent=2))


if __name__ == "__main__":
    main()
