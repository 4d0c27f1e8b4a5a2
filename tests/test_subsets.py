"""`voxlm split-jsonl` and `voxlm select`: the subsets recipes/default-data.sh cuts from its JSONL files."""

from __future__ import annotations

import json
import random
import re

import pytest

from voxlm.cli import VERBS, main
from voxlm.data.interleave import InterleavedSample, Segment
from voxlm.data.subsets import (TextFilter, around_first_match, first_chunk, is_plain, parse_part, select_requests,
                                split_jsonl)


def write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


ROWS = [{"id": f"r{i}", "text": f"Row {i} says café.", "source": "x"} for i in range(20)]


def test_parts_are_consecutive_runs_of_the_seeded_shuffle(tmp_path):
    src = write(tmp_path / "all.jsonl", ROWS)
    counts = split_jsonl(src, [(tmp_path / "a.jsonl", 5), (tmp_path / "b.jsonl", 3), (tmp_path / "c.jsonl", None)], seed=0)
    shuffled = list(ROWS)
    random.Random(0).shuffle(shuffled)
    assert counts == [5, 3, 12]
    assert read(tmp_path / "a.jsonl") == shuffled[:5]
    assert read(tmp_path / "b.jsonl") == shuffled[5:8]
    assert read(tmp_path / "c.jsonl") == shuffled[8:]


def test_lines_are_json_dumps_defaults(tmp_path):
    """`json.dumps(record)` per line, non-ASCII escaped: the bytes the recipe's files always had."""
    src = write(tmp_path / "all.jsonl", ROWS)
    split_jsonl(src, [(tmp_path / "out.jsonl", None)])
    assert (tmp_path / "out.jsonl").read_text() == "".join(json.dumps(r) + "\n" for r in ROWS)
    assert "\\u00e9" in (tmp_path / "out.jsonl").read_text()


def test_a_part_gets_what_is_left_when_the_records_run_out(tmp_path):
    src = write(tmp_path / "all.jsonl", ROWS[:4])
    assert split_jsonl(src, [(tmp_path / "a.jsonl", 3), (tmp_path / "b.jsonl", 3), (tmp_path / "c.jsonl", 3)]) == [3, 1, 0]
    assert (tmp_path / "c.jsonl").read_text() == ""


def test_only_the_last_part_may_take_the_rest(tmp_path):
    src = write(tmp_path / "all.jsonl", ROWS)
    with pytest.raises(ValueError, match="only the last part"):
        split_jsonl(src, [(tmp_path / "a.jsonl", None), (tmp_path / "b.jsonl", 3)])


def test_part_specs():
    assert parse_part("data/a.jsonl:400") == ("data/a.jsonl", 400)
    assert parse_part("data/a.jsonl") == ("data/a.jsonl", None)
    assert parse_part("c:/x:y.jsonl") == ("c:/x:y.jsonl", None)


def sample(*segments) -> InterleavedSample:
    return InterleavedSample("d", "interleaved-word", tuple(Segment(*s) for s in segments))


@pytest.mark.parametrize("segments, kept", [
    ([("text", "all text")], False),                                                  # pure text
    ([("text", "before"), ("speech", "spoken")], False),                              # ends in its speech
    ([("text", "Transcribe:", None, False), ("speech", "hi there"), ("text", "hi there")], True),  # ASR-style
    ([("speech", "spoken"), ("text", "prompt", None, False)], False),                 # only unlabelled text after
    ([("text", "a"), ("speech", "b"), ("text", "c"), ("speech", "d")], True),
])
def test_text_after_speech_is_labelled_text_after_the_first_speech(segments, kept):
    assert sample(*segments).has_text_after_speech is kept


def test_split_keeps_only_samples_with_text_after_speech(tmp_path):
    samples = [sample(("text", "all text")), sample(("speech", "b"), ("text", "c")), sample(("text", "a"), ("speech", "b"))]
    src = write(tmp_path / "samples.jsonl", [s.to_dict() for s in samples])
    assert split_jsonl(src, [(tmp_path / "train.jsonl", None)], require_text_after_speech=True) == [1]
    assert [InterleavedSample.from_dict(r) for r in read(tmp_path / "train.jsonl")] == [samples[1]]
    write(tmp_path / "chat.jsonl", [{"id": "x", "messages": [], "response": ""}])
    with pytest.raises(ValueError, match="not an InSerter sample"):
        split_jsonl(tmp_path / "chat.jsonl", [(tmp_path / "t.jsonl", None)], require_text_after_speech=True)


def test_plain_text_has_no_code_or_markup_characters():
    assert is_plain("Turn left at the lights, then stop.")
    assert not any(is_plain(f"x {c} y") for c in "{}[]<>=_#*|\\`/")


def words(n: int, word: str = "Go") -> str:
    """A sentence of `n` words (capitalised: the sentence splitter does not cut before a lowercase word)."""
    return " ".join([word] * (n - 1)) + " end."


def test_first_chunk_is_the_first_run_of_kept_sentences_in_range():
    keep = TextFilter(plain=True)
    assert first_chunk([words(4), words(5)], keep, 8, 12) == f"{words(4)} {words(5)}"
    # A sentence that fails the filter ends the run; the next run starts after it.
    assert first_chunk([words(4), "a = b.", words(5), words(6)], keep, 8, 12) == f"{words(5)} {words(6)}"
    # Past the maximum, the run starts again from the sentence that overflowed it...
    assert first_chunk([words(6), words(10), words(2)], keep, 8, 12) == f"{words(10)} {words(2)}"
    # ...or from nothing, when that sentence alone is too long.
    assert first_chunk([words(6), words(20), words(9)], keep, 8, 12) == words(9)
    assert first_chunk([words(3)], keep, 8, 12) is None


def test_around_first_match_takes_one_sentence_either_side_of_the_first_kept_one():
    keep = TextFilter(match=re.compile(r"\bParis\b"), exclude=("capital",))
    sentences = [words(5), words(6, "Paris"), words(5), words(5, "Paris")]
    assert around_first_match(sentences, keep, 10, 20) == " ".join(sentences[:3])
    assert around_first_match(sentences, keep, 17, 20) is None  # the first match decides, even when it is too short
    assert around_first_match([words(6, "Paris"), words(5)], keep, 5, 20) == f"{words(6, 'Paris')} {words(5)}"
    # The window must pass the filters too: a neighbour that mentions a capital rules it out.
    assert around_first_match(["The CAPITAL is near.", words(6, "Paris")], keep, 5, 20) is None


def test_select_writes_id_text_requests_with_skips_limit_and_suffix(tmp_path):
    rows = [{"id": f"r{i}", "text": f"Sentence {i} is plain. And so is this one.", "source": "s"} for i in range(10)]
    rows[3]["text"] = "Code { here }."
    src = write(tmp_path / "all.jsonl", rows)
    out = tmp_path / "req.jsonl"
    count = select_requests(src, out, limit=4, keep=TextFilter(plain=True), skip_ids=frozenset({"r1"}),
                            skip_texts=frozenset({rows[2]["text"]}), id_suffix="#s")
    assert count == 4
    assert read(out) == [{"id": f"r{i}#s", "text": rows[i]["text"]} for i in (0, 4, 5, 6)]
    shuffled = list(rows)
    random.Random(5).shuffle(shuffled)
    select_requests(src, out, seed=5, limit=2)
    assert read(out) == [{"id": r["id"], "text": r["text"]} for r in shuffled[:2]]


def test_select_excerpts(tmp_path):
    src = write(tmp_path / "all.jsonl", [{"id": "a", "text": f"{words(3)} Code = plain. {words(9)} {words(4)}"}])
    out = tmp_path / "req.jsonl"
    select_requests(src, out, keep=TextFilter(plain=True), excerpt="chunk", words=(10, 15), id_suffix="#chunk")
    assert read(out) == [{"id": "a#chunk", "text": f"{words(9)} {words(4)}"}]
    with pytest.raises(ValueError, match="excerpt must be one of"):
        select_requests(src, out, excerpt="middle")


def test_both_verbs_are_registered(tmp_path, capsys):
    assert VERBS["split-jsonl"][1] == VERBS["select"][1] == "data.subsets"
    src = write(tmp_path / "all.jsonl", ROWS)
    assert main(["split-jsonl", str(src), "--seed", "1", f"{tmp_path / 'a.jsonl'}:2", str(tmp_path / "b.jsonl")]) == 0
    assert len(read(tmp_path / "a.jsonl")) == 2 and len(read(tmp_path / "b.jsonl")) == 18
    assert main(["select", str(src), "-o", str(tmp_path / "r.jsonl"), "--match", r"Row 1\d", "--exclude", "ROW 12",
                 "--skip-ids-in", str(tmp_path / "a.jsonl")]) == 0
    skipped = {r["id"] for r in read(tmp_path / "a.jsonl")}
    expected = [f"r{i}" for i in range(10, 20) if i != 12 and f"r{i}" not in skipped]
    assert [r["id"] for r in read(tmp_path / "r.jsonl")] == expected
    with pytest.raises(SystemExit):
        main(["select", str(src), "-o", str(tmp_path / "r.jsonl"), "--chunk", "9:3"])  # MIN > MAX
    assert "expected MIN:MAX" in capsys.readouterr().err


def test_skip_items_passes_over_every_part_of_an_item(tmp_path):
    rows = [{"id": "fortunes:a/1#q", "text": "What does this saying mean? One."},
            {"id": "fortunes:a/2#q", "text": "Is this true? Two."},
            {"id": "fortunes:a/10", "text": "Ten."}]
    src = write(tmp_path / "questions.jsonl", rows)
    held = write(tmp_path / "eval_passages.jsonl", [{"id": "fortunes:a/1", "text": "One."}])
    out = tmp_path / "req.jsonl"
    assert main(["select", str(src), "-o", str(out), "--skip-items-in", str(held)]) == 0
    assert [r["id"] for r in read(out)] == ["fortunes:a/2#q", "fortunes:a/10"]  # a/10 is not item a/1
    assert main(["select", str(src), "-o", str(out), "--skip-ids-in", str(held)]) == 0
    assert len(read(out)) == 3  # ids alone do not match the question built from a/1
