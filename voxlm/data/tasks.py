"""The MTBI task bank: task families over a transcript, each with many prompt wordings, and fixed splits.

Splits (fixed, so the generalization benchmark is honest):
- training prompts: the first `TRAIN_WORDINGS` wordings of every family not in `HELD_OUT_TASKS`;
- held-out wordings: the remaining wordings of those same families (never trained on);
- held-out tasks: whole families never trained on (`HELD_OUT_TASKS`), all their wordings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """A task family. `prompts` are wordings of the same request; `before` puts the prompt ahead of the content."""

    name: str
    prompts: tuple[str, ...]
    max_new_tokens: int = 96
    before: bool = True
    metric: str = "rouge_l"


TRAIN_WORDINGS = 15

TASKS: dict[str, Task] = {t.name: t for t in (
    Task("transcribe", (
        "Transcribe the following.", "Write down exactly what is said.", "What are the exact words here?",
        "Give a verbatim transcript.", "Convert this speech to text.", "Type out what you hear.",
        "Write out the words of this recording.", "Produce a word-for-word transcription.",
        "Please transcribe this.", "Repeat back exactly what was said, as text.", "What does the speaker say, word for word?",
        "Turn this into written text, without changes.", "Write the transcript.", "Copy down the spoken words.",
        "Transcribe this passage accurately.", "Write down every word you hear, in order.",
        "Give me the text of this, verbatim.", "I need an exact written version of this.",
    ), max_new_tokens=128, metric="wer"),
    Task("continue", (
        "Continue this text.", "Keep going from where this leaves off.", "Write what comes next.",
        "Continue the passage with a few more sentences.", "Extend this text naturally.", "What might come next? Write it.",
        "Carry on writing after this.", "Add the next two sentences.", "Pick up where this ends and continue.",
        "Write a natural continuation.", "Go on with this text.", "Finish this thought with a few sentences.",
        "Continue writing in the same style.", "Write the next part.", "Take this further with a couple more sentences.",
        "Proceed with the text from here.", "Append a plausible continuation.", "Let the passage go on a little longer.",
    )),
    Task("summarize", (
        "Summarize this in one sentence.", "Give a short summary.", "What is the gist of this?",
        "Sum this up briefly.", "Write a one-sentence summary.", "Condense this into a sentence or two.",
        "Summarize the main point.", "Briefly, what does this say?", "Give me the short version.",
        "Provide a concise summary.", "In a nutshell, what is this about?", "Boil this down to its essence.",
        "Write a brief summary of this passage.", "Summarize what was said.", "Shorten this to its key message.",
        "Give a TL;DR.", "Recap this in a single sentence.", "What is the main idea, in brief?",
    )),
    Task("answer", (
        "What is the main point here?", "What is this passage mainly about?", "Who or what is this about?",
        "What is being described?", "What is the speaker trying to say?", "What is the key fact stated here?",
        "What question does this answer, and what is the answer?", "Why might someone say this?",
        "What is the most important detail here?", "What claim is being made?", "What does this tell us?",
        "What is the topic of this passage?", "What conclusion can be drawn from this?", "What is the purpose of this text?",
        "What happens in this passage?", "Which subject does this concern?", "What is the central idea expressed?",
        "What should a listener take away from this?",
    )),
    Task("keywords", (
        "List three keywords.", "Extract the key terms.", "What are the main keywords? List them.",
        "Give a comma-separated list of keywords.", "Pick out the most important words.", "Name the key concepts.",
        "Extract three to five keywords.", "What words best describe this content?", "List the essential terms.",
        "Tag this with a few keywords.", "Which terms would you index this under?", "Identify the keywords.",
        "Give me the main topics as keywords.", "List a few keywords for this.", "What are the key phrases?",
        "Provide keywords for this text.", "Which few words capture this best?", "Suggest search keywords for this.",
    ), max_new_tokens=48),
    Task("tone", (
        "Describe the tone of this.", "What is the sentiment here: positive, negative or neutral?",
        "How does the speaker feel?", "What is the mood of this passage?", "Is this positive or negative? Explain briefly.",
        "Describe the emotional tone.", "What attitude does this express?", "Characterize the sentiment.",
        "What feeling does this convey?", "Rate the sentiment and explain in a sentence.", "Is the tone formal or casual?",
        "What is the overall mood?", "How would you describe the voice of this text?", "What emotion comes through here?",
        "Classify the sentiment of this.", "Does this sound happy, sad, angry or neutral?",
        "Sum up the tone in a few words.", "What is the emotional stance here?",
    ), max_new_tokens=64),
    Task("formal", (
        "Rewrite this formally.", "Make this sound more professional.", "Rephrase this in formal English.",
        "Rewrite this for a business letter.", "Turn this into formal prose.", "Say this more politely and formally.",
        "Rewrite in an academic register.", "Make this more formal.", "Rephrase this as an official statement.",
        "Give a formal version of this.", "Rewrite this in a professional tone.", "Polish this into formal language.",
        "Convert this to a formal style.", "Write this as it would appear in a report.", "Rewrite this more elegantly.",
        "Express this in formal terms.", "Recast this in a dignified, formal tone.", "Make this suitable for a formal email.",
    )),
    Task("paraphrase", (
        "Paraphrase this.", "Say this in other words.", "Rephrase this.", "Reword this without changing the meaning.",
        "Express the same idea differently.", "Put this in your own words.", "Rewrite this with different wording.",
        "Give a paraphrase.", "Restate this.", "How else could this be said?", "Reformulate this.",
        "Write this another way.", "Rephrase this passage in plain words.", "Change the wording but keep the meaning.",
        "Restate the same content in new words.", "Offer an alternative phrasing.", "Rewrite this so it says the same thing differently.",
        "Paraphrase what was said.",
    )),
    Task("entities", (
        "List the people, places and things mentioned.", "What names appear here?", "Extract the named entities.",
        "Which people or places are mentioned?", "List every name mentioned.", "What proper nouns occur here?",
        "Identify the entities in this text.", "List the objects and people referred to.",
        "Who and what is mentioned? List them.", "Pull out all named things.", "Which entities does this mention?",
        "List the nouns that matter most.", "Name the things this talks about.", "What specific items are mentioned?",
        "Extract names, places and organizations.", "Enumerate the entities here.", "List the subjects mentioned.",
        "Which concrete things come up?",
    ), max_new_tokens=64),
    Task("reply", (
        "Reply to this as if in a conversation.", "How would you respond to this?", "Write a friendly reply.",
        "Respond to what was said.", "Answer this as a helpful assistant.", "Give a short response to this.",
        "What would you say back?", "Write a reply.", "React to this in a sentence or two.", "Respond thoughtfully.",
        "Continue the conversation with a reply.", "Write a polite response to this.", "How should one answer this?",
        "Draft a reply to this message.", "Respond to this briefly.", "Give your response to this.",
        "Reply as a friend would.", "Write a helpful answer to this.",
    )),
    Task("title", (
        "Give this a title.", "Suggest a headline.", "What would be a good title?", "Write a short title for this.",
        "Name this passage.", "Propose a heading.", "Come up with a catchy title.", "Title this text.",
        "What headline fits this?", "Write a title of at most six words.", "Suggest a name for this piece.",
        "Give a one-line heading.", "What should this be called?", "Create a title.", "Provide a suitable headline.",
        "Headline this in a few words.", "Think of a fitting title.", "Label this with a short title.",
    ), max_new_tokens=24),
    Task("ask_question", (
        "Write a question that this passage answers.", "What question would this be the answer to?",
        "Ask a quiz question about this.", "Write a comprehension question for this.", "Pose a question about the content.",
        "Create one question a reader could answer from this.", "What could you ask about this?",
        "Write a test question based on this.", "Generate a question about this text.", "Ask something about this passage.",
        "Make up a question this text answers.", "Formulate a question from this.", "Write a reading-check question.",
        "Suggest a question about this.", "Turn this into a question.", "Write a trivia question from this.",
        "What might a student be asked about this?", "Compose a question about what was said.",
    ), max_new_tokens=40),
    Task("simplify", (
        "Explain this in simple English.", "Rewrite this so a child could understand.", "Simplify this.",
        "Say this in plain, simple words.", "Make this easier to understand.", "Explain this to a beginner.",
        "Rewrite using short, simple sentences.", "Put this in basic English.", "Make this simpler.",
        "How would you explain this to a ten-year-old?", "Use easy words to say this.", "Translate this into simple English.",
        "Rewrite this for a language learner.", "Simplify the wording.", "Give a simple explanation of this.",
        "Break this down simply.", "Say this in everyday language.", "Rephrase this in very plain English.",
    )),
)}

# Families no training example ever uses: the 'unseen tasks' condition of the generalization benchmark.
HELD_OUT_TASKS = ("title", "ask_question", "simplify")
TRAIN_TASKS = tuple(name for name in TASKS if name not in HELD_OUT_TASKS)

SPLITS = ("train", "held_out_prompt", "held_out_task")


def prompts_for(task: str, split: str) -> tuple[str, ...]:
    """The wordings of `task` that belong to `split` (empty when the task is not part of that split)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; splits are {', '.join(SPLITS)}")
    prompts = TASKS[task].prompts
    if task in HELD_OUT_TASKS:
        return prompts if split == "held_out_task" else ()
    if split == "train":
        return prompts[:TRAIN_WORDINGS]
    return prompts[TRAIN_WORDINGS:] if split == "held_out_prompt" else ()


def tasks_for(split: str) -> tuple[str, ...]:
    return tuple(name for name in TASKS if prompts_for(name, split))


def sample_prompts(rng: random.Random, split: str, k: int, tasks: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """`k` distinct (task, wording) pairs of `split`, drawn with `rng`."""
    pool = [(t, p) for t in (tasks or tasks_for(split)) for p in prompts_for(t, split)]
    if not pool:
        raise ValueError(f"no prompts in split {split!r} for tasks {tasks}")
    by_task: dict[str, list[str]] = {}
    for task, prompt in pool:
        by_task.setdefault(task, []).append(prompt)
    # Tasks first, then a wording: every family gets equal weight whatever its wording count.
    chosen_tasks = rng.sample(sorted(by_task), min(k, len(by_task)))
    return [(task, rng.choice(by_task[task])) for task in chosen_tasks]
