"""Connector positions read as the LLM's own tokens: greedy CTC collapse and the soft-token mix.

The CTC-aligned connector scores each position against the LLM's input-embedding table, one row of
which (`alignment_blank`) plays the blank. Greedy CTC keeps the positions that are not blank and
are not a repeat of the position before them in the same clip; their best tokens are the
connector's own transcript (`voxlm transcribe`). The soft-token interface (LegoSLM,
arXiv 2505.11352) hands the LLM, at each kept position, the probability mix of the `top_k` likeliest
real token embeddings instead of the raw connector vector: near-text that a frozen LLM can read,
and still differentiable, so the LM stages keep training the connector through it.

With `lm_fusion_weight` (inference only) the LLM also helps choose among each position's candidates:
shallow fusion, as CTC speech recognisers use a language model, but with the LLM itself, so nothing
outside the model is consulted. One LLM pass over the clip's greedy transcript (teacher-forced, after
the prompt text before the clip) gives every kept position the LLM's log-probability of its candidates;
the mix weights become the CTC scores plus that weight times those log-probabilities.
"""

from __future__ import annotations

import torch


def _without_blank(logits: torch.Tensor, blank_id: int) -> torch.Tensor:
    """The logits with the blank's column at -inf: a kept position stands for a real token."""
    return logits.index_fill(-1, torch.tensor([blank_id], device=logits.device), float("-inf"))


def greedy_ctc(
    logits: torch.Tensor, blank_id: int, blank_threshold: float, new_clip: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best non-blank token of each position, and which positions greedy CTC keeps.

    logits `[positions, vocab]` over the LLM's vocabulary, positions of all clips in order;
    new_clip `[positions]` True where a clip starts (a repeat never merges across clips).
    A position is blank when its blank probability exceeds `blank_threshold`; it is a repeat when
    the position before it, in the same clip, is not blank and has the same best token.
    Returns (tokens `[positions]`, keep `[positions]` bool).
    """
    with torch.no_grad():
        blank = logits.float().softmax(-1)[:, blank_id] > blank_threshold
        tokens = _without_blank(logits, blank_id).argmax(-1)
        labels = tokens.masked_fill(blank, -1)  # -1: the blank, unequal to every token
        previous = torch.cat([labels.new_full((1,), -1), labels[:-1]])
        repeat = (labels == previous) & ~new_clip
        return tokens, ~blank & ~repeat


def top_candidates(logits: torch.Tensor, blank_id: int, top_k: int) -> torch.Tensor:
    """`[positions, vocab]` -> `[positions, k]`: each position's k likeliest real tokens, best first."""
    with torch.no_grad():
        return _without_blank(logits, blank_id).topk(min(top_k, logits.shape[-1] - 1)).indices


def soft_token_mix(
    positions: torch.Tensor, table: torch.Tensor, picked: torch.Tensor, scale: float = 1.0,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """`[positions, dim]` -> `[positions, dim]`: each position as the renormalised mix of its `picked` token embeddings.

    `picked` `[positions, k]` (`top_candidates`, chosen without gradient); their scores are recomputed from
    `positions` (times `scale`, as the logits were) so the gradient of the mix reaches the connector
    through the k mixing weights. `bias` `[positions, k]` is added to those scores (the LLM fusion term).
    """
    rows = table[picked].to(positions.dtype)  # P, k, D
    scores = torch.einsum("pd,pkd->pk", positions, rows) * scale
    weights = (scores if bias is None else scores + bias.to(scores.dtype)).softmax(-1)
    return torch.einsum("pk,pkd->pd", weights, rows)


@torch.no_grad()
def _transcript_log_probs(
    language_model, contexts: list[list[int]], transcripts: list[list[int]], candidates: list[torch.Tensor],
    max_logits: int = 1 << 26,
) -> list[torch.Tensor]:
    """Per row, the LLM's log-probability `[m, k]` of each of the row's m transcript tokens' k candidates, given
    its context and the transcript tokens before it (teacher-forced); the first token scores 0 (a transcript's
    first token is spelled mid-sentence, " What", unlike a message's first word after the chat template, and the
    LLM would wrongly penalise it).

    Rows are left-padded, so every transcript ends its row and the last `tail + 1` positions predict all of
    them; one column more than the longest row, so a row with no context still has a position before its first
    token. Every transcript holds at least one token. Rows go through the LLM in chunks whose logits stay
    under `max_logits` numbers.
    """
    device = language_model.get_input_embeddings().weight.device
    rows = [list(ctx) + list(t) for ctx, t in zip(contexts, transcripts)]
    width, tail = max(map(len, rows)) + 1, max(map(len, transcripts))
    vocab = language_model.get_output_embeddings().weight.shape[0]
    chunk = max(1, max_logits // ((tail + 1) * vocab))
    out = []
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        ids = torch.zeros(len(part), width, dtype=torch.long, device=device)
        mask = torch.zeros_like(ids)
        for r, row in enumerate(part):
            ids[r, width - len(row):] = torch.tensor(row, device=device)
            mask[r, width - len(row):] = 1
        logits = language_model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                                logits_to_keep=tail + 1).logits  # rows, tail + 1, vocab
        for r in range(len(part)):
            m = len(transcripts[start + r])
            # logits[:, -1] follows the last token; the prediction of token j of an m-token transcript is at -(m + 1) + j.
            predicted = logits[r, logits.shape[1] - m - 1: logits.shape[1] - 1].float().log_softmax(-1)
            scores = predicted.gather(1, candidates[start + r].to(device))
            scores[:1] = 0.0
            out.append(scores)
    return out


def llm_fusion_scores(language_model, contexts: list[list[int]], candidates: list[torch.Tensor]) -> list[torch.Tensor]:
    """The LLM's log-probability of each kept position's candidates, clip by clip.

    contexts: per clip, the prompt's token ids before it; candidates: per clip `[kept, k]` (`top_candidates` of its
    kept positions, best first). Position j is scored given the context and the best candidates of positions
    0..j-1 (the greedy transcript), so all clips take one batched LLM pass. A clip's first position scores 0.
    """
    return _transcript_log_probs(language_model, contexts, [c[:, 0].tolist() for c in candidates], candidates)


def clip_starts(is_audio: torch.Tensor) -> torch.Tensor:
    """`[batch, seq]` audio-position mask -> `[audio positions]` True where a run of audio positions (a clip) starts,
    in the row-major order in which the positions are filled."""
    before = torch.nn.functional.pad(is_audio[:, :-1], (1, 0), value=False)
    return ~before[is_audio]


def _nbest(local: torch.Tensor, beams: int) -> torch.Tensor:
    """`[kept, k]` per-position scores -> `[n, kept]` candidate indices of the `n <= beams` best-scoring paths,
    best first (beam search over positions; the score of a path is the sum of its positions' scores)."""
    paths, totals = local.new_zeros((1, 0), dtype=torch.long), local.new_zeros(1)
    for scores in local:
        expanded = (totals[:, None] + scores[None, :]).flatten()
        totals, index = expanded.topk(min(beams, len(expanded)))
        paths = torch.cat([paths[index // len(scores)], (index % len(scores))[:, None]], 1)
    return paths


@torch.no_grad()
def llm_beam_fusion(
    language_model, contexts: list[list[int]], candidates: list[torch.Tensor], ctc_scores: list[torch.Tensor],
    follows: list[torch.Tensor], weight: float, beams: int, local_scores: list[torch.Tensor] | None = None,
    max_logits: int = 1 << 26,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Shallow fusion over whole transcripts: each clip's `beams` best paths, rescored by the LLM as wholes.

    Per clip: contexts (the prompt's token ids before it), candidates `[kept, k]`, their CTC scores `[kept, k]`, and
    follows `[kept]` (True where a kept position comes right after the kept one before it, so an equal token merges
    into it, as greedy CTC merges repeats). The paths are the best by CTC score plus `local_scores` `[kept, k]` when
    given (`weight` times `llm_fusion_scores`: then the one-pass fused transcript is the first path, and the
    rescoring can only improve on it by its own measure). A path's score is its CTC scores plus `weight` times the LLM's
    log-probability of the transcript it spells, after the context, its first token excepted (as in
    `llm_fusion_scores`). Unlike the one-pass fusion, a token the LLM likes but that leaves the rest of the
    transcript unlikely (" j" for " Japan") pays for it. Returns per clip (index of the chosen candidate at
    each kept position `[kept]`, fusion bias `[kept, k]`): `weight` times the LLM's log-probability of every
    candidate given the chosen transcript before it, with the chosen candidate lifted to lead its position's
    mix, so the soft tokens' best guesses spell the chosen transcript.
    """
    device = language_model.get_input_embeddings().weight.device
    row_contexts, transcripts, row_candidates, owners = [], [], [], []  # one row per (clip, path)
    paths_of, merged_of = [], []
    for i, (ctx, cand, ctc, fol) in enumerate(zip(contexts, candidates, ctc_scores, follows)):
        paths = _nbest(ctc.float() + (0 if local_scores is None else local_scores[i].float().to(ctc.device)), beams)
        tokens = cand.gather(1, paths.T).T  # n, kept
        merged = torch.zeros_like(tokens, dtype=torch.bool)
        merged[:, 1:] = fol[1:].to(tokens.device) & (tokens[:, 1:] == tokens[:, :-1])
        paths_of.append(paths)
        merged_of.append(merged)
        for n in range(len(paths)):  # the transcript a path spells: its tokens, repeats merged
            row_contexts.append(ctx)
            transcripts.append(tokens[n][~merged[n]].tolist())
            row_candidates.append(cand[~merged[n]])
            owners.append((i, n))
    llm = [[None] * len(p) for p in paths_of]  # per clip, per path: LLM log-probs of every candidate `[kept, k]`
    spelled = _transcript_log_probs(language_model, row_contexts, transcripts, row_candidates, max_logits)
    for (i, n), scores in zip(owners, spelled):
        merged = merged_of[i][n].to(device)
        llm[i][n] = scores.new_zeros(merged.shape + scores.shape[1:]).masked_scatter(~merged[:, None], scores)
    out = []
    for i, paths in enumerate(paths_of):
        ctc = ctc_scores[i].float().to(device)
        picks = paths.to(device)
        totals = torch.stack([ctc.gather(1, p[:, None]).sum() + weight * s.gather(1, p[:, None]).sum()
                              for p, s in zip(picks, llm[i])])
        best = int(totals.argmax())
        choice, bias = picks[best], weight * llm[i][best]
        fused = ctc + bias
        chosen = fused.gather(1, choice[:, None])[:, 0]
        bias.scatter_add_(1, choice[:, None], (fused.max(1).values - chosen + 1e-3)[:, None])
        out.append((choice, bias))
    return out
