"""InSerter-style interleaving: which parts of a document are spoken, and the model inputs that follow.

A document becomes `[text][speech][text]...`: spans of its own words are replaced by the same words
spoken by a TTS voice, and the model learns to continue the text across them (cross-entropy on text
tokens only). Span choice is word-level (contiguous spans of >= 5 words) or sentence-level (whole
sentences), to a target speech ratio measured in words (~0.3 word-level, ~0.4 sentence-level). The
paper's training mix adds pure-text samples and ASR-style samples ("Transcribe: <audio>" ->
transcript): 40% interleaved / 30% speech tasks / 30% text by default (`MixConfig`).

Everything up to `build_inputs` is a pure function of (document, config, seed):

    sample = make_sample(doc, MixConfig(), seed=0)          # InterleavedSample, no audio yet
    clips = [speak(seg.text, voice) for seg in sample.speech_segments]   # `voxlm synth`, elsewhere
    features = build_inputs(sample, clips, processor)       # input_ids / labels / audio, one sample
    batch = VoxLMCollator(processor.tokenizer.pad_token_id)([features, ...])
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, fields
from typing import Iterable, Iterator, NamedTuple, Sequence

from ..audio.io import SAMPLING_RATE
from ..tts.text import split_sentences
from .corpora.text import Document
from .seeds import derived_seed

TEXT, SPEECH = "text", "speech"
IGNORE_INDEX = -100

DEFAULT_ASR_PROMPTS = (
    "Transcribe the audio.",
    "Transcribe:",
    "Write down exactly what is said.",
    "What does the speaker say? Give the exact words.",
    "Repeat the spoken words as text.",
    "Convert this speech to text.",
)


class Segment(NamedTuple):
    """One piece of a sample. `kind` is "text" or "speech".

    For speech, `text` is what to synthesize (and the span's transcript) and `audio` is filled later
    with a reference to the synthesized clip (a cache key or path). For text, `loss=False` marks a
    prompt that is not a training target (the instruction of an ASR-style sample).
    """

    kind: str
    text: str
    audio: str | None = None
    loss: bool = True


@dataclass(frozen=True)
class InterleavedSample:
    """A training sample before audio exists: `segments` in order, speech segments to be synthesized.

    `kind`: "interleaved-word", "interleaved-sentence", "text" or "asr". `doc_id` names the source document.
    """

    doc_id: str
    kind: str
    segments: tuple[Segment, ...]

    @property
    def speech_segments(self) -> list[Segment]:
        return [s for s in self.segments if s.kind == SPEECH]

    @property
    def num_clips(self) -> int:
        return len(self.speech_segments)

    @property
    def first_speech(self) -> int:
        """Index of the first speech segment (`len(segments)` when there is none)."""
        return next((i for i, s in enumerate(self.segments) if s.kind == SPEECH), len(self.segments))

    @property
    def has_text_after_speech(self) -> bool:
        """True when some labelled text follows the first speech segment.

        Only those tokens can see audio under causal attention, so with the LLM frozen they are the
        sample's only loss that reaches the connector: pure-text samples and samples that end in
        their speech train it not at all (they matter only when LoRA trains the LLM).
        """
        return any(s.kind == TEXT and s.loss for s in self.segments[self.first_speech + 1 :])

    @property
    def speech_ratio(self) -> float:
        """Spoken words / all words, prompts (`loss=False` text) not counted."""
        spoken = sum(len(s.text.split()) for s in self.speech_segments)
        total = sum(len(s.text.split()) for s in self.segments if s.loss or s.kind == SPEECH)
        return spoken / total if total else 0.0

    def with_audio(self, refs: Sequence[str]) -> "InterleavedSample":
        """The same sample with `refs[i]` as the audio reference of the i-th speech segment."""
        refs = list(refs)
        if len(refs) != self.num_clips:
            raise ValueError(f"sample has {self.num_clips} speech segments but {len(refs)} audio references were given")
        it = iter(refs)
        segments = tuple(s._replace(audio=next(it)) if s.kind == SPEECH else s for s in self.segments)
        return InterleavedSample(self.doc_id, self.kind, segments)

    def to_dict(self) -> dict:
        """JSON-ready: `{"doc_id", "kind", "segments": [{"kind", "text", "audio", "loss"}, ...]}`."""
        return {"doc_id": self.doc_id, "kind": self.kind, "segments": [s._asdict() for s in self.segments]}

    @classmethod
    def from_dict(cls, data: dict) -> "InterleavedSample":
        return cls(data["doc_id"], data["kind"], tuple(Segment(**s) for s in data["segments"]))


# ---- span choice (pure) ----------------------------------------------------------------------

def _stochastic_round(x: float, rng: random.Random) -> int:
    """floor(x) or ceil(x), with the probabilities that make the expected value exactly x."""
    base = int(x)
    return base + (rng.random() < x - base)


def choose_word_spans(
    n_words: int, ratio: float, rng: random.Random, min_span_words: int = 5, max_span_words: int = 20
) -> list[tuple[int, int]]:
    """Non-adjacent `[start, end)` word spans, each `min_span_words..max_span_words` long, covering ~`ratio` of the words.

    The spoken word count equals `ratio * n_words` rounded at random (so the ratio is exact in
    expectation); when that is less than one minimal span, a single minimal span is spoken with the
    probability that keeps the expectation. Span lengths are uniform; the text words in between are
    spread uniformly at random, with at least one text word between two spans (adjacent spans would
    be one span).
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"speech ratio must be in [0, 1), got {ratio}")
    if min_span_words < 1 or max_span_words < 2 * min_span_words:
        raise ValueError(f"need 1 <= min_span_words and max_span_words >= 2 * min_span_words, got {min_span_words}, {max_span_words}")
    if n_words < min_span_words:
        return []
    expected = ratio * n_words
    if expected < min_span_words:
        target = min_span_words if rng.random() < expected / min_span_words else 0
    else:
        target = _stochastic_round(expected, rng)

    lengths, remaining = [], target
    while remaining >= min_span_words:
        length = rng.randint(min_span_words, min(max_span_words, remaining))
        leftover = remaining - length
        if 0 < leftover < min_span_words:  # the rest cannot be a span of its own: absorb it, or leave a minimal one
            length = length + leftover if length + leftover <= max_span_words else remaining - min_span_words
        lengths.append(length)
        remaining -= length
    rng.shuffle(lengths)
    while lengths and n_words - sum(lengths) - (len(lengths) - 1) < 0:
        lengths.pop()  # only for ratios near 1: not enough text words to separate the spans

    k = len(lengths)
    if k == 0:
        return []
    free = n_words - sum(lengths) - (k - 1)
    # Stars and bars: a uniformly random way to put `free` text words into k + 1 gaps.
    cuts = sorted(rng.sample(range(free + k), k))
    gaps = [b - a - 1 for a, b in zip([-1, *cuts], [*cuts, free + k])]
    spans, pos = [], 0
    for i, length in enumerate(lengths):
        pos += gaps[i] + (1 if i > 0 else 0)
        spans.append((pos, pos + length))
        pos += length
    return spans


def choose_sentences(lengths: Sequence[int], ratio: float, rng: random.Random) -> list[int]:
    """Indices (sorted) of whole sentences to speak so that ~`ratio` of the words are spoken.

    Sentences are visited in random order and taken while they fit under the target; the first that
    does not fit is taken with probability (words still wanted / its length), then the choice stops.
    The expected number of spoken words is then exactly `ratio * sum(lengths)`.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"speech ratio must be in [0, 1], got {ratio}")
    target = ratio * sum(lengths)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chosen, spoken = [], 0
    for i in order:
        wanted = target - spoken
        if wanted <= 0:
            break
        if lengths[i] <= wanted:
            chosen.append(i)
            spoken += lengths[i]
        else:
            if rng.random() < wanted / lengths[i]:
                chosen.append(i)
            break
    return sorted(chosen)


def segments_from_spans(words: Sequence[str], spans: Sequence[tuple[int, int]]) -> list[Segment]:
    """Words + sorted, non-overlapping `[start, end)` speech spans -> alternating text/speech segments."""
    segments, pos = [], 0
    for start, end in spans:
        if start < pos or end <= start or end > len(words):
            raise ValueError(f"spans must be sorted, non-empty and non-overlapping within {len(words)} words: {spans}")
        if start > pos:
            segments.append(Segment(TEXT, " ".join(words[pos:start])))
        segments.append(Segment(SPEECH, " ".join(words[start:end])))
        pos = end
    if pos < len(words):
        segments.append(Segment(TEXT, " ".join(words[pos:])))
    return segments


def interleave_words(
    text: str, ratio: float = 0.3, seed: int | random.Random = 0, min_span_words: int = 5, max_span_words: int = 20
) -> list[Segment]:
    """Word-level interleaving of `text`: contiguous spans of >= `min_span_words` words become speech."""
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    words = text.split()
    return segments_from_spans(words, choose_word_spans(len(words), ratio, rng, min_span_words, max_span_words))


def interleave_sentences(text: str, ratio: float = 0.4, seed: int | random.Random = 0) -> list[Segment]:
    """Sentence-level interleaving of `text`: whole sentences become speech (adjacent ones form one clip)."""
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    sentences = [s.split() for s in split_sentences(text)]
    chosen = choose_sentences([len(s) for s in sentences], ratio, rng)
    spans, start = [], 0
    bounds = []
    for s in sentences:
        bounds.append((start, start + len(s)))
        start += len(s)
    for i in chosen:
        lo, hi = bounds[i]
        if spans and spans[-1][1] == lo:
            spans[-1] = (spans[-1][0], hi)
        else:
            spans.append((lo, hi))
    return segments_from_spans([w for s in sentences for w in s], spans)


def excerpt(text: str, max_words: int, rng: random.Random) -> str:
    """A run of whole consecutive sentences of at most `max_words` words, starting at a random sentence.

    Keeps samples (and their TTS) short whatever the document length. The run starts at a sentence
    from which at least `max_words` words remain when possible, so long documents give full-length
    excerpts; a first sentence longer than `max_words` is cut after `max_words` words.
    """
    words = text.split()
    if len(words) <= max_words:
        return " ".join(words)
    sentences = [s.split() for s in split_sentences(text)]
    suffix, starts = 0, []
    for i in range(len(sentences) - 1, -1, -1):
        suffix += len(sentences[i])
        if suffix >= max_words:
            starts.append(i)
    first = rng.choice(starts) if starts else 0
    out: list[str] = []
    for s in sentences[first:]:
        if out and len(out) + len(s) > max_words:
            break
        out.extend(s)
    return " ".join(out[:max_words])


# ---- the training mix ------------------------------------------------------------------------

@dataclass
class MixConfig:
    """What share of samples is of each kind, and how each is made. Fractions must sum to 1."""

    interleaved: float = 0.4
    """share of interleaved text/speech samples (the paper's 40%)"""
    speech_tasks: float = 0.3
    """share of ASR-style samples: prompt + speech -> transcript (the paper's 30% speech tasks)"""
    text: float = 0.3
    """share of pure-text samples, which keep the LLM's text behaviour when LoRA is trained"""
    word_level: float = 0.5
    """among interleaved samples, the share with word-level spans (the rest sentence-level)"""
    word_ratio: float = 0.3
    """spoken share of the words, word-level interleaving"""
    sentence_ratio: float = 0.4
    """spoken share of the words, sentence-level interleaving"""
    min_span_words: int = 5
    """shortest word-level span"""
    max_span_words: int = 20
    """longest word-level span"""
    max_words: int = 200
    """longest excerpt of a document that one interleaved or text sample uses"""
    asr_max_words: int = 40
    """longest transcript of an ASR-style sample (~15 s of speech)"""
    asr_prompts: tuple[str, ...] = field(default_factory=lambda: DEFAULT_ASR_PROMPTS)
    """wordings of the transcription instruction, one picked per sample"""

    def __post_init__(self):
        shares = (self.interleaved, self.speech_tasks, self.text)
        if min(shares) < 0 or abs(sum(shares) - 1.0) > 1e-6:
            raise ValueError(f"interleaved + speech_tasks + text must be non-negative and sum to 1, got {shares}")
        if not 0.0 <= self.word_level <= 1.0:
            raise ValueError(f"word_level must be in [0, 1], got {self.word_level}")
        if not self.asr_prompts:
            raise ValueError("asr_prompts must hold at least one prompt")
        self.asr_prompts = tuple(self.asr_prompts)

    @classmethod
    def from_dict(cls, data: dict) -> "MixConfig":
        """From a recipe's YAML mapping; unknown keys are an error that lists the valid ones."""
        valid = {f.name for f in fields(cls)}
        unknown = set(data) - valid
        if unknown:
            raise ValueError(f"unknown MixConfig key(s) {sorted(unknown)}; valid keys are {sorted(valid)}")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


def text_sample(doc: Document, text: str | None = None) -> InterleavedSample:
    return InterleavedSample(doc.id, "text", (Segment(TEXT, text if text is not None else doc.text),))


def asr_sample(doc: Document, rng: random.Random, config: MixConfig | None = None) -> InterleavedSample:
    """Prompt (no loss) + speech of a short excerpt -> the excerpt as the text target."""
    config = config or MixConfig()
    transcript = excerpt(doc.text, config.asr_max_words, rng)
    prompt = rng.choice(config.asr_prompts)
    return InterleavedSample(doc.id, "asr", (Segment(TEXT, prompt, loss=False), Segment(SPEECH, transcript), Segment(TEXT, transcript)))


def make_sample(doc: Document, config: MixConfig | None = None, seed: int = 0) -> InterleavedSample:
    """One training sample from `doc`, its kind drawn by the mix; deterministic in (seed, doc.id).

    Seeding per document (not one stream for the corpus) makes the result independent of document
    order and of how the corpus is sharded across workers.
    """
    config = config or MixConfig()
    rng = random.Random(derived_seed(seed, doc.id, "interleave"))
    draw = rng.random()
    if draw < config.speech_tasks:
        return asr_sample(doc, rng, config)
    text = excerpt(doc.text, config.max_words, rng)
    if draw < config.speech_tasks + config.text:
        return text_sample(doc, text)
    if rng.random() < config.word_level:
        segments = interleave_words(text, config.word_ratio, rng, config.min_span_words, config.max_span_words)
        kind = "interleaved-word"
    else:
        segments = interleave_sentences(text, config.sentence_ratio, rng)
        kind = "interleaved-sentence"
    return InterleavedSample(doc.id, kind, tuple(segments))


def mix_samples(docs: Iterable[Document], config: MixConfig | None = None, seed: int = 0) -> Iterator[InterleavedSample]:
    """`make_sample` over a stream of documents."""
    config = config or MixConfig()
    for doc in docs:
        yield make_sample(doc, config, seed)


# ---- samples + audio -> model inputs ---------------------------------------------------------

def build_inputs(
    sample: InterleavedSample,
    clips: Sequence,
    processor,
    label_text_before_audio: bool = False,
    add_eos: bool = True,
    sampling_rate: int = SAMPLING_RATE,
) -> dict:
    """One sample's model inputs: `[text][<|audio|> x n][text]...` with labels for continuing the text.

    `clips` holds one entry per speech segment, in order, all of one form:
      - raw audio (1-D array at `sampling_rate`, or a file path/bytes `processor.load` accepts): returns
        `input_features [windows, mel_bins, mel frames]` + `audio_lengths [windows]`, computed by the processor;
      - cached encoder frames (2-D `[frames, encoder_dim]` array or tensor, one 30 s window at most):
        returns `audio_frames` (list of `[frames, encoder_dim]` tensors) + `audio_lengths [clips]`;
      - a cached clip's frame count (int): returns `audio_lengths` only; attach `audio_frames` before
        collating (e.g. read lazily from a memmapped cache).
    Each clip takes exactly as many positions as the processor gives it: for raw audio the processor
    expands the placeholder itself; for frames, `num_audio_tokens(frames, processor.stack_factor)`,
    the function the processor applies to every window.

    Labels are the token ids on text and -100 on audio positions (the model also masks those).
    Text segments with `loss=False` (prompts) get -100. So does text *before the first audio* unless
    `label_text_before_audio`: under causal attention those tokens cannot see any audio, so with a
    frozen LLM their loss has no gradient path to the connector and only dilutes the per-token mean;
    with LoRA it is plain language modelling, which the pure-text share of the mix already provides.
    Pure-text samples (no audio) are labelled throughout. With `add_eos`, an EOS token closes a
    sample that ends in labelled text, so the model learns where a transcript or document ends.

    Returns `input_ids`, `attention_mask`, `labels` (1-D LongTensors `[seq]`) and the audio keys above.
    """
    import numpy as np
    import torch

    from ..model.connector import num_audio_tokens
    from ..model.processing_voxlm import WINDOW_FRAMES

    speech = sample.speech_segments
    if len(clips) != len(speech):
        raise ValueError(f"sample {sample.doc_id!r} has {len(speech)} speech segments but {len(clips)} clips were given")
    tokenizer = processor.tokenizer
    audio: dict = {}
    if not clips:
        counts: list[int] = []
    elif all(isinstance(c, (int, np.integer)) for c in clips):
        frame_counts = [int(c) for c in clips]
    elif all(getattr(c, "ndim", None) == 2 for c in clips):
        frames = [torch.as_tensor(np.asarray(c)) if not isinstance(c, torch.Tensor) else c for c in clips]
        frame_counts = [f.shape[0] for f in frames]
        audio["audio_frames"] = frames
    elif not any(isinstance(c, (int, np.integer)) or getattr(c, "ndim", 1) == 2 for c in clips):
        # Raw audio: let the processor expand one placeholder per clip (one row each) and extract features.
        rows = processor([processor.audio_token] * len(clips), audio=list(clips), sampling_rate=sampling_rate)
        counts = (rows["input_ids"] == processor.audio_token_id).sum(dim=1).tolist()
        audio["input_features"] = rows["input_features"]
        audio["audio_lengths"] = rows["audio_lengths"]
    else:
        raise ValueError("clips of one sample must all be raw audio, all cached frames [frames, dim], or all frame counts")
    if "audio_lengths" not in audio and clips:
        too_long = [n for n in frame_counts if not 0 < n <= WINDOW_FRAMES]
        if too_long:
            raise ValueError(f"a cached clip must hold 1..{WINDOW_FRAMES} encoder frames (one 30 s window), got {too_long}")
        counts = [num_audio_tokens(n, processor.stack_factor) for n in frame_counts]
        audio["audio_lengths"] = torch.tensor(frame_counts, dtype=torch.long)

    first_audio = sample.first_speech
    ids: list[int] = []
    labels: list[int] = []
    clip_counts = iter(counts)
    for i, seg in enumerate(sample.segments):
        if seg.kind == SPEECH:
            n = next(clip_counts)
            ids += [processor.audio_token_id] * n
            labels += [IGNORE_INDEX] * n
            continue
        if seg.kind != TEXT:
            raise ValueError(f"segment kind must be 'text' or 'speech', got {seg.kind!r}")
        # Segments are separate words: a text segment after another one starts with a space, so it
        # tokenizes as it would mid-sentence ("sat<|audio|> on the mat").
        piece = seg.text if i == 0 or seg.text[:1].isspace() else " " + seg.text
        piece_ids = tokenizer(piece, add_special_tokens=False).input_ids
        labelled = seg.loss and (label_text_before_audio or i > first_audio or first_audio == len(sample.segments))
        ids += piece_ids
        labels += piece_ids if labelled else [IGNORE_INDEX] * len(piece_ids)
    last = sample.segments[-1] if sample.segments else None
    if add_eos and last is not None and last.kind == TEXT and labels and labels[-1] != IGNORE_INDEX:
        ids.append(tokenizer.eos_token_id)
        labels.append(tokenizer.eos_token_id)
    return {
        "input_ids": torch.tensor(ids, dtype=torch.long),
        "attention_mask": torch.ones(len(ids), dtype=torch.long),
        "labels": torch.tensor(labels, dtype=torch.long),
        **audio,
    }
