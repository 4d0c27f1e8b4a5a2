"""Held-out prompts, tasks and voices never reach training data (asserted on produced data)."""

from __future__ import annotations

import json

import pytest

from voxlm.data.imitate import plan_instruct, plan_mtbi
from voxlm.data.synth import choose_voice, resolve_voice_pool
from voxlm.data.tasks import HELD_OUT_TASKS, SPLITS, TASKS, prompts_for
from voxlm.data.train_data import check_no_held_out_voices
from voxlm.tts import HELD_OUT_VOICES, TRAIN_VOICES

PASSAGES = [{"id": f"p{i}", "text": f"Sentence one of passage {i}. Sentence two follows here. And a third."} for i in range(300)]


def test_prompt_splits_partition_every_task():
    for name, task in TASKS.items():
        parts = [set(prompts_for(name, split)) for split in SPLITS]
        assert sum(map(len, parts)) == len(task.prompts) == len(set(task.prompts))
        assert set().union(*parts) == set(task.prompts)
    assert len(TASKS) >= 10 and all(len(t.prompts) >= 15 for t in TASKS.values())


def test_training_examples_use_only_training_prompts_and_tasks():
    held_out_prompts = {p for t in TASKS for p in prompts_for(t, "held_out_prompt") + prompts_for(t, "held_out_task")}
    seen_tasks = set()
    for plan in plan_mtbi(PASSAGES, split="train", per_passage=3):
        texts = [p["text"] for p in plan.example.messages[0]["content"] if p["type"] == "text"]
        assert not held_out_prompts & set(texts)
        seen_tasks.add(plan.meta["task"])
    assert seen_tasks and not seen_tasks & set(HELD_OUT_TASKS)
    assert seen_tasks == set(TASKS) - set(HELD_OUT_TASKS)  # and every training task does occur


def test_held_out_splits_produce_only_their_own_prompts():
    for plan in plan_mtbi(PASSAGES[:50], split="held_out_task", per_passage=2):
        assert plan.meta["task"] in HELD_OUT_TASKS


def test_default_training_voice_pool_never_picks_held_out_voices():
    pool = resolve_voice_pool("train")
    assert set(pool) == set(TRAIN_VOICES) and not set(pool) & set(HELD_OUT_VOICES)
    chosen = {choose_voice(f"clip-{i}", pool) for i in range(2000)}
    assert chosen == set(TRAIN_VOICES)


def test_training_refuses_speech_in_held_out_voices(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"clips_by_split": {"train": 10, "held_out": 2}}))
    with pytest.raises(ValueError, match="2 clips in held-out voices"):
        check_no_held_out_voices([str(tmp_path)])


def test_spoken_instructions_carry_their_constraints():
    plans = list(plan_instruct([{"id": str(i), "text": "Tell me about rivers."} for i in range(40)], constraint_rate=1.0))
    for plan in plans:
        spoken = plan.clips[0][1]
        assert spoken.startswith("Tell me about rivers.") and len(spoken) > len("Tell me about rivers.")
        assert plan.meta["instruction_id_list"]
