"""The training objectives beyond the LLM's own cross-entropy, computed from the logits the model exposes.

Cross-entropy on target tokens stays in `VoxLMModel.forward(labels=...)`, as every HF causal LM has it.
The two objectives that are voxlm's own choices live here, side by side:

- `alignment_ctc_loss`: the connector's alignment stage (`objective: ctc`). Each connector output
  position is scored against the frozen LLM's own token embeddings (`VoxLMModel.alignment_logits`);
  CTC ties those scores to the transcript's LLM tokens. No LLM pass, so a step costs a fraction of
  an LM step.
- `distillation_loss`: Ultravox-style KL to the frozen LLM reading the transcript, added to the
  cross-entropy with `kl_weight`.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from ..model.connector import num_audio_tokens


def alignment_ctc_loss(logits: torch.Tensor, audio_lengths: torch.Tensor, stack_factor: int,
                       ctc_labels: torch.Tensor, ctc_vocab: torch.Tensor) -> torch.Tensor:
    """Mean over clips of per-token CTC between alignment logits and each clip's transcript.

    logits `[clips, positions, 1 + candidates]` from `VoxLMModel.alignment_logits` (0 is the blank);
    audio_lengths `[clips]` encoder frames of each clip (its real positions follow from `stack_factor`);
    ctc_labels `[clips, longest]` LLM token ids of each transcript, -100 padding;
    ctc_vocab `[candidates]` the sorted LLM token ids the logits score.
    """
    counts = torch.tensor([num_audio_tokens(int(n), stack_factor) for n in audio_lengths])
    if len(counts) != ctc_labels.shape[0]:
        raise ValueError(f"{len(counts)} audio windows but {ctc_labels.shape[0]} transcripts: align clips of at most 30 s")
    real = ctc_labels != -100
    if not bool(torch.isin(ctc_labels[real], ctc_vocab).all()):
        raise ValueError("ctc_labels hold tokens missing from ctc_vocab")
    targets = torch.searchsorted(ctc_vocab, ctc_labels.clamp(min=0)) + 1  # 0 is the blank
    return F.ctc_loss(logits.float().log_softmax(-1).transpose(0, 1), targets[real], counts, real.sum(1),
                      blank=0, zero_infinity=True)


def sampled_ctc_vocab(ctc_labels: torch.Tensor, vocab_size: int, negatives: int, blank_token_id: int,
                      generator: torch.Generator) -> torch.Tensor:
    """Sorted candidate ids for one batch's `alignment_logits`: every token of its transcripts plus `negatives`
    draws (with replacement, duplicates merged) from the whole vocabulary but the blank, which is column 0 anyway.

    A sampled softmax over the LLM's input embeddings: the transcripts' tokens are always scored, so the CTC
    targets exist, and a fresh sample each step spreads the competition over the whole vocabulary.
    """
    drawn = torch.randint(0, vocab_size - 1, (negatives,), generator=generator)
    drawn = drawn + (drawn >= blank_token_id).long()  # skip the blank's id
    return torch.unique(torch.cat([ctc_labels[ctc_labels != -100], drawn]))  # sorted


def distillation_loss(model, student_logits: torch.Tensor, batch: dict, temperature: float) -> torch.Tensor:
    """KL(teacher || student) over target tokens; the teacher is `model`'s frozen LLM fed the text transcript.

    Student and teacher sequences differ before the target but end with the same target tokens, so
    the positions predicting target tokens (labels != -100, shifted) correspond one to one.
    """
    llm = model.language_model
    adapters_off = llm.disable_adapter() if hasattr(llm, "disable_adapter") else contextlib.nullcontext()
    with torch.no_grad(), adapters_off:
        teacher_logits = llm(input_ids=batch["teacher_input_ids"], attention_mask=batch["teacher_attention_mask"]).logits
    student_pos = batch["labels"][:, 1:] != -100
    teacher_pos = batch["teacher_labels"][:, 1:] != -100
    student = student_logits[:, :-1][student_pos] / temperature
    teacher = teacher_logits[:, :-1][teacher_pos] / temperature
    return F.kl_div(F.log_softmax(student, -1), F.log_softmax(teacher, -1), log_target=True, reduction="batchmean") * temperature**2
