"""Scores shared by the benchmarks: ROUGE-L agreement, normalised WER, and the modality gap.

Metric code comes from pinned libraries so that scores reproduce (their versions go into every
results.json, see `metric_versions`): ROUGE-L from `rouge-score` (Porter stemming on), WER from
`jiwer` after Whisper's `EnglishTextNormalizer` (`whisper-normalizer`) on both sides.

    >>> round(rouge_l("the cat sat on the mat", "the cat is on the mat"), 4)
    0.8333
    >>> corpus_wer(["a b c", "d e"], ["a b", "d e f"])   # 1 deletion + 1 insertion over 5 words
    0.4
"""

from __future__ import annotations

import functools
import re
from importlib import metadata
from typing import Mapping, Sequence

# The packages whose versions decide a score (plus the runtime that produced the answers).
METRIC_PACKAGES = ("rouge-score", "jiwer", "whisper-normalizer")
RUNTIME_PACKAGES = ("voxlm", "transformers", "torch", "faster-whisper", "ctranslate2")


def _require(module: str, package: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise ImportError(f"the benchmarks need `{package}`: run `pip install {package}` "
                          "(the exact versions are in the eval section of the install docs)") from None


@functools.lru_cache(maxsize=1)
def _rouge_scorer():
    rouge_scorer = _require("rouge_score.rouge_scorer", "rouge-score")
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


@functools.lru_cache(maxsize=1)
def _normalizer():
    english = _require("whisper_normalizer.english", "whisper-normalizer")
    return english.EnglishTextNormalizer()


# rouge-score keeps only [a-z0-9] runs of the lower-cased text as tokens.
_SCORABLE = re.compile(r"[a-z0-9]")


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 of `prediction` against `reference` (stemmed, rouge-score's English tokens).

    Two answers with no scorable words at all (both empty) agree fully: 1.0, where rouge-score
    would say 0.
    """
    if not _SCORABLE.search(reference.lower()) and not _SCORABLE.search(prediction.lower()):
        return 1.0
    return float(_rouge_scorer().score(reference, prediction)["rougeL"].fmeasure)


def normalize(text: str) -> str:
    """Whisper's English normalisation: lower case, no punctuation, spelled-out forms unified, fillers dropped."""
    return _normalizer()(text)


def corpus_wer(references: Sequence[str], hypotheses: Sequence[str]) -> float | None:
    """Word error rate over a whole set: total edits / total reference words, after `normalize`.

    Pairs whose reference normalises to nothing are left out (WER is undefined for them); None
    when no pair is left.
    """
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    jiwer = _require("jiwer", "jiwer")
    pairs = [(normalize(r), normalize(h)) for r, h in zip(references, hypotheses)]
    pairs = [(r, h) for r, h in pairs if r.strip()]
    if not pairs:
        return None
    refs, hyps = zip(*pairs)
    return float(jiwer.wer(list(refs), list(hyps)))


def word_accuracy(wer: float | None) -> float | None:
    """1 - WER, floored at 0 (WER exceeds 1 when a system adds many words): a higher-is-better view
    of WER, so that WER also has a modality gap."""
    return None if wer is None else max(0.0, 1.0 - wer)


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def gap(metrics: Mapping[str, Mapping[str, Mapping[str, float | None]]], higher_is_better: Mapping[str, bool],
        system: str = "speech", reference: str = "text") -> dict[str, dict[str, float | None]]:
    """`system`'s score over `reference`'s, per condition and higher-is-better metric.

    `metrics[system][condition][metric]`. The modality gap is `gap(metrics, ..., "speech", "text")`:
    1.0 means speech input loses nothing against the transcript. Lower-is-better metrics (WER)
    get no ratio (their higher-is-better twin, word accuracy, has one); a ratio over a reference
    score of 0 or a missing score is None.
    """
    out: dict[str, dict[str, float | None]] = {}
    for condition, ref_scores in metrics[reference].items():
        row = {}
        for metric, ref in ref_scores.items():
            if not higher_is_better.get(metric, False):
                continue
            value = metrics[system].get(condition, {}).get(metric)
            row[metric] = None if value is None or not ref else round(value / ref, 4)
        out[condition] = row
    return out


def package_versions(names: Sequence[str] = METRIC_PACKAGES + RUNTIME_PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (None when absent)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def metric_versions() -> dict[str, str | None]:
    """Versions of the libraries that compute the scores: pin these to reproduce a results.json."""
    return package_versions(METRIC_PACKAGES)
