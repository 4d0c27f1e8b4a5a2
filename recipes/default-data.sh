#!/usr/bin/env bash
# Builds the training data of recipes/default.yaml under data/default/ (every step resumable; roughly
# 4 h on 2 cores, most of it speech synthesis, encoder features and the teacher's answers).
#   bash recipes/default-data.sh
set -euo pipefail
cd "$(dirname "$0")/.."
D=data/default
mkdir -p $D
VOICES=piper:joe,hibari:heart,kokoro:alpha,flite:kal16,flite:rms,flite:slt,espeak:en-us+m3,espeak:en-gb+f3
TEACHER=smollm2-135m-instruct   # the student's own LLM: behaviour imitation of itself

# 1. Text: short fortunes (spoken passages) and short ShareGPT user instructions, train split, shuffled.
voxlm corpus fortunes -o $D/all_passages.jsonl --min-words 12 --max-words 45
voxlm corpus sharegpt-instructions -o $D/all_instr.jsonl --max-words 30
python - "$D" <<'PY'
import json, random, sys
d = sys.argv[1]
def take(src, parts):
    rows = [json.loads(l) for l in open(f"{d}/{src}")]
    random.Random(0).shuffle(rows)
    start = 0
    for name, n in parts:
        open(f"{d}/{name}", "w").write("".join(json.dumps(r) + "\n" for r in rows[start:start + n]))
        start += n
take("all_passages.jsonl", [("mtbi_passages.jsonl", 400), ("inserter_passages.jsonl", 1000), ("eval_passages.jsonl", 100)])
take("all_instr.jsonl", [("instr_train.jsonl", 300), ("instr_eval.jsonl", 40)])
PY

# 2. InSerter samples; MTBI and spoken-instruction examples answered by the teacher.
voxlm interleave $D/inserter_passages.jsonl --out $D/inserter
voxlm interleave $D/eval_passages.jsonl --out $D/inserter-eval
voxlm imitate $D/mtbi_passages.jsonl --mode mtbi --per-passage 1 --out $D/mtbi --teacher $TEACHER --batch-size 16 --max-new-tokens 64
voxlm imitate $D/eval_passages.jsonl --mode mtbi --per-passage 1 --out $D/mtbi-eval --teacher $TEACHER --batch-size 16 --max-new-tokens 64
voxlm imitate $D/instr_train.jsonl --mode instruct --out $D/instruct --teacher $TEACHER --batch-size 16 --max-new-tokens 64
voxlm imitate $D/instr_eval.jsonl --mode instruct --out $D/instruct-eval --teacher $TEACHER --batch-size 16 --max-new-tokens 64

# 3. Train/eval files. InSerter samples are kept only when labelled text follows their first speech:
#    with the LLM frozen, pure-text samples (and samples whose speech is the last segment) give the
#    connector no gradient; they matter only when LoRA trains the LLM.
python - "$D" <<'PY'
import json, sys
d = sys.argv[1]
def keep(src, dst, pred=lambda r: True):
    rows = [json.loads(l) for l in open(f"{d}/{src}")]
    open(f"{d}/{dst}", "w").write("".join(json.dumps(r) + "\n" for r in rows if pred(r)))
def text_after_speech(r):
    segs = r["segments"]
    first = next((i for i, s in enumerate(segs) if s["kind"] == "speech"), len(segs))
    return any(s["kind"] == "text" and s["loss"] for s in segs[first + 1:])
keep("inserter/samples.jsonl", "inserter/train.jsonl", text_after_speech)
keep("inserter-eval/samples.jsonl", "inserter/eval.jsonl", text_after_speech)
keep("mtbi/examples.jsonl", "mtbi/train.jsonl")
keep("mtbi-eval/examples.jsonl", "mtbi/eval.jsonl")
keep("instruct/examples.jsonl", "instruct/train.jsonl")
keep("instruct-eval/examples.jsonl", "instruct/eval.jsonl")
PY

# 4. Speech for every clip the examples name (three synth folders, so each stage can start as soon as
#    its own clips exist), then the cached encoder frames. One torch/ONNX thread per process: two
#    processes with two threads each on two cores spin-wait and run several times slower.
export OMP_NUM_THREADS=1
cat $D/mtbi/clips.jsonl $D/mtbi-eval/clips.jsonl $D/instruct/clips.jsonl $D/instruct-eval/clips.jsonl > $D/imitate_clips.jsonl
voxlm synth $D/inserter/clips.jsonl $D/speech --voices $VOICES
voxlm synth $D/inserter-eval/clips.jsonl $D/speech-inserter-eval --voices $VOICES
voxlm synth $D/imitate_clips.jsonl $D/speech-imitate --voices $VOICES --num-workers 2
for s in speech speech-inserter-eval speech-imitate; do voxlm features $D/$s --audio-model whisper-tiny.en; done

# 5. Speech-only data for aligning the connector (recipes/align.yaml): 3,900 more passages, about 7.7 h
#    (25 min of synthesis + 40 min of features on 2 cores). Passages also in eval_passages are
#    spoken here too, and left out of training by the align recipe.
python - "$D" <<'PY'
import json, random, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(f"{d}/all_passages.jsonl")]
random.Random(1).shuffle(rows)
open(f"{d}/starter_requests.jsonl", "w").write("".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in rows[:3900]))
PY
voxlm synth $D/starter_requests.jsonl $D/starter --voices $VOICES --num-workers 2
voxlm features $D/starter --audio-model whisper-tiny.en

# 6. Broader speech-only alignment data: the starter passages are fortunes, so questions, names and
#    everyday technical words are rare in them. 1,600 first chunks (15-45 words) of ShareGPT answers,
#    1,000 ShareGPT user instructions and 600 GCIDE definitions, train splits only (~35 min on 2 cores).
voxlm corpus sharegpt -o $D/all_sharegpt.jsonl --limit 6000
voxlm corpus gcide -o $D/all_gcide.jsonl --min-words 10 --max-words 45
voxlm corpus sharegpt-instructions -o $D/all_instr_long.jsonl --min-words 6 --max-words 45
python - "$D" <<'PY'
import json, random, sys
from voxlm.tts.text import split_sentences
d = sys.argv[1]
def rows(name):
    out = [json.loads(l) for l in open(f"{d}/{name}")]
    random.Random(2).shuffle(out)
    return out
def plain(text):  # code and markup read badly and teach nothing
    return not any(c in text for c in "{}[]<>=_#*|\\`/")
def first_chunk(text, lo=15, hi=45):
    chunk = []
    for s in split_sentences(text):
        if not plain(s):
            chunk = []
            continue
        chunk.append(s)
        n = len(" ".join(chunk).split())
        if n > hi:
            chunk = [s] if len(s.split()) <= hi else []
        elif n >= lo:
            return " ".join(chunk)
    return None
spoken = {json.loads(l)["text"] for f in ("instr_train.jsonl", "instr_eval.jsonl") for l in open(f"{d}/{f}")}
requests = []
for r in rows("all_sharegpt.jsonl"):
    if len(requests) == 1600:
        break
    if (text := first_chunk(r["text"])) is not None:
        requests.append({"id": r["id"] + "#chunk", "text": text})
requests += [{"id": r["id"], "text": r["text"]} for r in rows("all_instr_long.jsonl") if r["text"] not in spoken
             and plain(r["text"])][:1000]
requests += [{"id": r["id"], "text": r["text"]} for r in rows("all_gcide.jsonl")[:600]]
open(f"{d}/broad_requests.jsonl", "w").write("".join(json.dumps(r) + "\n" for r in requests))
PY
voxlm synth $D/broad_requests.jsonl $D/broad --voices $VOICES --num-workers 2
voxlm features $D/broad --audio-model whisper-tiny.en

# 7. Place names: countries, regions and cities are nearly absent from steps 5-6, and the connector
#    hears them as common words ("France" -> "friends"). 1,400 GCIDE definitions and 70 ShareGPT answer
#    chunks that name a place from the list below, none already spoken above (1,470 clips, ~25 min on
#    2 cores). No text mentions a capital: the bundled sample question stays unseen.
python - "$D" <<'PY'
import json, random, re, sys
from voxlm.tts.text import split_sentences
d = sys.argv[1]
places = re.compile(r"\b(" + "|".join("""France Germany Italy Spain Portugal England Scotland Ireland Wales Britain
    Greece Turkey Russia Poland Sweden Norway Denmark Holland Belgium Switzerland Austria Hungary Egypt Africa India
    China Japan Persia Arabia Brazil Mexico Peru Chile Canada America Australia Europe Asia Paris London Rome Berlin
    Madrid Vienna Athens Lisbon Moscow Venice Naples Florence Scandinavia Siberia Syria Palestine""".split()) + r")\b")
def rows(name):
    out = [json.loads(l) for l in open(f"{d}/{name}")]
    random.Random(3).shuffle(out)
    return out
def usable(text):
    return places.search(text) and "capital" not in text.lower() and not any(c in text for c in "{}[]<>=_#*|\\`/")
spoken = {json.loads(l)["id"] for l in open(f"{d}/broad_requests.jsonl")}
requests = [{"id": r["id"], "text": r["text"]} for r in rows("all_gcide.jsonl") if r["id"] not in spoken and usable(r["text"])][:1400]
for r in rows("all_sharegpt.jsonl"):
    sentences = split_sentences(r["text"])
    for i, s in enumerate(sentences):  # the first sentence naming a place, one sentence either side of it
        if usable(s):
            chunk = " ".join(sentences[max(0, i - 1):i + 2])
            if 15 <= len(chunk.split()) <= 45 and usable(chunk):
                requests.append({"id": f"{r['id']}#places", "text": chunk})
            break
open(f"{d}/places_requests.jsonl", "w").write("".join(json.dumps(r) + "\n" for r in requests))
PY
voxlm synth $D/places_requests.jsonl $D/places --voices $VOICES --num-workers 2
voxlm features $D/places --audio-model whisper-tiny.en

# 8. More spoken instructions: step 2's 300 are few next to the connector's other training data. The
#    next 600 of step 1's shuffled instructions (none of them in instr_eval), answered by the teacher
#    and spoken like step 2's (~30 min on 2 cores, most of it the teacher).
python - "$D" <<'PY'
import json, random, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(f"{d}/all_instr.jsonl")]
random.Random(0).shuffle(rows)  # step 1's order: instr_train and instr_eval are rows[:340]
open(f"{d}/instr_more.jsonl", "w").write("".join(json.dumps(r) + "\n" for r in rows[340:940]))
PY
voxlm imitate $D/instr_more.jsonl --mode instruct --out $D/instruct-more --teacher $TEACHER --batch-size 16 --max-new-tokens 64 --seed 1
voxlm synth $D/instruct-more/clips.jsonl $D/speech-instruct-more --voices $VOICES --num-workers 2
voxlm features $D/speech-instruct-more --audio-model whisper-tiny.en
