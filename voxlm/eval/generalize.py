"""`generalize`: MTBI-style task generalization on spoken passages.

Each item is a task prompt (text) with a spoken passage (held-out voice), in one of three
conditions taken from the task bank's fixed splits (`voxlm.data.tasks`):

- `train`: task families and wordings seen in training (the passages and voices are still new);
- `held_out_prompt`: seen families, wordings never trained on;
- `held_out_task`: families never trained on at all.

Score = agreement with the text LLM's own answer when it reads the gold transcript (ROUGE-L F1;
the text system agrees with itself, so the modality gap equals the speech score), plus WER
against the passage for `transcribe` items. Passages come from `PASSAGES` (written for this
benchmark) or from a user's JSONL of `{"id", "text"}` lines.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..data.tasks import SPLITS, TASKS, prompts_for, tasks_for
from ..files import write_jsonl_atomic
from ..tts import HELD_OUT_VOICES
from .baselines import Item, ItemSet
from .clips import build_clips
from .files import BenchmarkDataError, first_per_condition, read_jsonl, resolve_audio, unique_key
from .metrics import corpus_wer, mean, rouge_l, word_accuracy

CONDITIONS = SPLITS
METRICS = {"agreement_rouge_l": True, "wer": False, "word_accuracy": True}
DEFAULT_PER_SPLIT = 60
FIELDS = ("key", "audio_path", "passage", "task", "prompt", "condition")

PASSAGES = (
    "The town council voted on Tuesday to keep the public swimming pool open through September. "
    "Several parents had asked for longer hours, and the lifeguards agreed to extra shifts.",
    "Maria planted tomatoes along the south wall of her yard in April. By July the vines were taller "
    "than she was, and she gave baskets of fruit to everyone on her street.",
    "A small bakery in Leeds has started selling bread made with flour from a nearby mill. The owner "
    "says the loaves cost a little more, but customers like knowing where the grain was grown.",
    "Scientists tracked a group of humpback whales for three years using small tags. They found that "
    "the whales returned to the same feeding grounds every summer, almost to the week.",
    "The museum will close its east wing for repairs next month. Visitors can still see the dinosaur "
    "skeletons, which have been moved to the main hall for the winter.",
    "After weeks of practice, the school choir sang at the city concert hall on Friday night. The "
    "audience stood and clapped for two full minutes when the last song ended.",
    "Heavy snow closed the mountain pass early this morning. Drivers heading north are being sent "
    "along the coast road, which adds about an hour to the journey.",
    "Tom forgot his keys again and had to wait on the front step until his sister came home. He has "
    "now hidden a spare key under a flower pot, though he will not say which one.",
    "The new library card lets members borrow electronic books as well as paper ones. Each member can "
    "keep up to ten titles at a time, and nothing is charged for late returns.",
    "A strong wind knocked over the old oak tree in Hill Park during the storm. Nobody was hurt, and "
    "the city plans to plant three young trees in its place next spring.",
    "Our team missed the final by a single point, which was hard to accept. Still, everyone agreed it "
    "had been our best season in ten years, and the coach was proud of us.",
    "The train from Paris to Brussels was delayed by forty minutes because of a signal fault. The rail "
    "company apologized and offered passengers a partial refund.",
    "Honey never really spoils if it is kept in a sealed jar. Archaeologists have found pots of it in "
    "ancient tombs that were still safe to eat after thousands of years.",
    "I was nervous before my first driving lesson, but the instructor was calm and patient. By the end "
    "of the hour I could park the car without touching the kerb.",
    "The factory on River Street will add two hundred jobs next year. Local leaders welcomed the news, "
    "although some residents worry about more trucks on narrow roads.",
    "Anna and her grandfather built a wooden birdhouse over the weekend. Within a few days a pair of "
    "blue tits had moved in and started carrying moss inside.",
    "The price of coffee beans rose sharply this year after a poor harvest in Brazil. Several cafes "
    "have raised their prices, and some now offer smaller cups.",
    "A volunteer group cleaned up the beach near Port Ellen on Sunday. They collected more than forty "
    "bags of plastic, most of it bottle caps and fishing line.",
    "Learning to juggle takes patience more than talent. Most people can keep three balls in the air "
    "after about a week of practicing for ten minutes a day.",
    "The hospital opened a new children's ward with bright murals and a small play room. Nurses say "
    "the young patients seem calmer since the move.",
    "I am really disappointed with the phone I bought last month. The battery barely lasts until lunch, "
    "and the shop refuses to replace it.",
    "The astronomy club will meet on the hill behind the school on Saturday evening. If the sky is clear, "
    "members should be able to see Jupiter and four of its moons.",
    "Our neighbor's dog, a cheerful spaniel named Biscuit, escaped through a gap in the fence. He was "
    "found two hours later sleeping in the bakery's doorway.",
    "The city will test electric buses on two routes starting in March. If the trial goes well, the "
    "whole fleet could be replaced within five years.",
    "Rice is the main food for more than half of the people in the world. It grows best in warm places "
    "with plenty of water, such as river valleys and flooded fields.",
    "The author spent six years writing her first novel, mostly early in the morning before work. It "
    "was turned down by nine publishers before the tenth said yes.",
    "A sudden power cut left the whole street in darkness for most of the evening. Neighbors brought out "
    "candles and board games, and some said it was the nicest night in months.",
    "The marathon starts at eight o'clock near the harbor and finishes in Central Square. Roads along "
    "the route will be closed until early afternoon.",
    "Bees visit thousands of flowers to gather enough nectar for a spoonful of honey. Along the way they "
    "carry pollen from plant to plant, which helps fruit and seeds to form.",
    "I finally finished painting the kitchen, and I love the soft yellow color. It makes the room feel "
    "warm even on grey winter mornings.",
)


def passages_from_jsonl(path: str | Path) -> list[dict]:
    """A user's passages: JSONL of `{"id", "text"}` (line-numbered errors)."""
    path = Path(path)
    out, seen = [], set()
    for number, record in read_jsonl(path, ("id", "text"), "a passage line"):
        if not isinstance(record["text"], str) or not record["text"].strip():
            raise BenchmarkDataError(f"{path}:{number}: 'text' must be a non-empty string")
        out.append({"id": unique_key(path, number, record["id"], seen), "text": record["text"].strip()})
    return out


def default_passages() -> list[dict]:
    return [{"id": f"p{i:02d}", "text": t} for i, t in enumerate(PASSAGES)]


def plan_generalize_set(passages: Sequence[dict] | None = None, per_split: int = DEFAULT_PER_SPLIT,
                        seed: int = 0) -> list[dict]:
    """Records (no audio yet) for `per_split` items in each split, interleaved split by split.

    Within a split, task families take turns (so each family is equally represented, `transcribe`
    first), each with a seeded wording from that split and the next passage of a seeded order.
    Passage k is always spoken by the same held-out voice, so its clip is shared across items.
    """
    passages = list(passages or default_passages())
    if not passages:
        raise ValueError("the generalize set needs at least one passage")
    rng = random.Random(seed)
    order = list(range(len(passages)))
    rng.shuffle(order)
    records = []
    for j in range(per_split):
        for split in CONDITIONS:
            tasks = tasks_for(split)
            task = tasks[j % len(tasks)]
            k = order[(j + CONDITIONS.index(split) * 7) % len(order)]
            passage = passages[k]
            records.append({
                "key": f"voxlm-generalize-{split}-{j:04d}",
                "passage_id": passage["id"],
                "passage": passage["text"],
                "task": task,
                "prompt": rng.choice(prompts_for(task, split)),
                "condition": split,
                "voice": HELD_OUT_VOICES[_stable_index(passage["id"], len(HELD_OUT_VOICES))],
                "spoken_text": passage["text"],
            })
    return records


def _stable_index(text: str, n: int) -> int:
    # A fixed assignment, not a seeded draw (`data.seeds.derived_seed`): changing it would re-voice the
    # published benchmark set, so results before and after would not compare.
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) % n


def build_generalize_set(out_dir: str | Path, passages: Sequence[dict] | None = None,
                         per_split: int = DEFAULT_PER_SPLIT, seed: int = 0, limit: int | None = None,
                         speak: Callable[[str, str], np.ndarray] | None = None, progress: bool = False) -> Path:
    """Write `out_dir/generalize.jsonl` (+ `audio/`, one clip per passage and voice); returns the JSONL."""
    out_dir = Path(out_dir)
    records = first_per_condition(plan_generalize_set(passages, per_split, seed), limit,
                                  condition=lambda r: r["condition"])
    clips: dict[tuple[str, str], dict] = {}
    for r in records:  # items over one passage share one clip
        clips.setdefault((r["passage_id"], r["voice"]), {"key": f"passage-{r['passage_id']}", "voice": r["voice"],
                                                          "spoken_text": r["spoken_text"]})
    build_clips(list(clips.values()), out_dir, speak, progress, "generalize audio")
    for r in records:
        r["audio_path"] = clips[(r["passage_id"], r["voice"])]["audio_path"]
    path = out_dir / "generalize.jsonl"
    write_jsonl_atomic(path, ({k: r[k] for k in FIELDS + ("passage_id", "voice")} for r in records))
    return path


def read_generalize(path: str | Path, limit: int | None = None) -> ItemSet:
    """`generalize.jsonl` -> items: the task prompt and the spoken passage, in the task's order."""
    path = Path(path)
    items, seen = [], set()
    for number, r in read_jsonl(path, FIELDS, "a generalize line"):
        if r["task"] not in TASKS:
            raise BenchmarkDataError(f"{path}:{number}: unknown task {r['task']!r}; tasks are {', '.join(TASKS)}")
        task = TASKS[r["task"]]
        audio = {"type": "audio", "audio": str(resolve_audio(path, number, r["audio_path"])), "text": r["passage"]}
        prompt = {"type": "text", "text": r["prompt"]}
        items.append(Item(
            id=unique_key(path, number, r["key"], seen), condition=str(r["condition"]),
            content=[prompt, audio] if task.before else [audio, prompt],
            max_new_tokens=task.max_new_tokens,
            meta={"task": r["task"], "passage": r["passage"]},
        ))
    return ItemSet(first_per_condition(items, limit), str(path))


def score(items: Sequence[Item], responses: dict[str, dict[str, str]]) -> dict[str, dict[str, float | None]]:
    """Per system: mean ROUGE-L agreement with the `text` system's answer, and WER of transcribe answers."""
    if "text" not in responses:
        raise ValueError("generalize scores agreement with the text system's answers: responses need 'text'")
    transcribe = [item for item in items if item.meta["task"] == "transcribe"]
    out = {}
    for system, answers in responses.items():
        wer = corpus_wer([i.meta["passage"] for i in transcribe], [answers[i.id] for i in transcribe])
        out[system] = {
            "agreement_rouge_l": mean([rouge_l(answers[i.id], responses["text"][i.id]) for i in items]),
            "wer": wer,
            "word_accuracy": word_accuracy(wer),
        }
    return out
