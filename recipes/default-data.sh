#!/usr/bin/env bash
# Builds the training data of recipes/default.yaml under data/default/ (every step resumable; steps 2-4, 7
# and 8 took 39 min on 2 cores on 2026-12-07, 13 of them the teacher's answers (docs/default-scale); steps
# 5-6 were not timed since; step 9, ~48 h of alignment speech from the fast voices, about 40 min: see its comment).
#   bash recipes/default-data.sh
set -euo pipefail
cd "$(dirname "$0")/.."
D=data/default
mkdir -p $D
VOICES=piper:joe,hibari:heart,kokoro:alpha,flite:kal16,flite:rms,flite:slt,espeak:en-us+m3,espeak:en-gb+f3
TEACHER=smollm2-135m-instruct   # the student's own LLM: behaviour imitation of itself

# 1. Text: short fortunes (spoken passages) and short ShareGPT user instructions, train split, shuffled
#    and cut into the parts the later steps use (instr_more is step 8's).
voxlm corpus fortunes -o $D/all_passages.jsonl --min-words 12 --max-words 45
voxlm corpus sharegpt-instructions -o $D/all_instr.jsonl --max-words 30
voxlm split-jsonl $D/all_passages.jsonl --seed 0 \
    $D/mtbi_passages.jsonl:400 $D/inserter_passages.jsonl:1000 $D/eval_passages.jsonl:100
voxlm split-jsonl $D/all_instr.jsonl --seed 0 $D/instr_train.jsonl:300 $D/instr_eval.jsonl:40 $D/instr_more.jsonl:600

# 1b. The hearing set every stage is measured on (`hearing_data` in the recipes): the 100 held-out passages
#     spoken by the held-out voices, never trained on (~4 min on 2 cores).
voxlm select $D/eval_passages.jsonl -o $D/hearing_requests.jsonl
voxlm synth $D/hearing_requests.jsonl $D/hearing --voices held_out
voxlm features $D/hearing --audio-model whisper-tiny.en

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
voxlm split-jsonl $D/inserter/samples.jsonl $D/inserter/train.jsonl --require-text-after-speech
voxlm split-jsonl $D/inserter-eval/samples.jsonl $D/inserter/eval.jsonl --require-text-after-speech
for s in mtbi instruct; do
    voxlm split-jsonl $D/$s/examples.jsonl $D/$s/train.jsonl
    voxlm split-jsonl $D/$s-eval/examples.jsonl $D/$s/eval.jsonl
done

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
voxlm select $D/all_passages.jsonl -o $D/starter_requests.jsonl --seed 1 --limit 3900
voxlm synth $D/starter_requests.jsonl $D/starter --voices $VOICES --num-workers 2
voxlm features $D/starter --audio-model whisper-tiny.en

# 6. Broader speech-only alignment data: the starter passages are fortunes, so questions, names and
#    everyday technical words are rare in them. 1,600 first chunks (15-45 words) of ShareGPT answers,
#    1,000 ShareGPT user instructions and 600 GCIDE definitions, train splits only (~35 min on 2 cores).
voxlm corpus sharegpt -o $D/all_sharegpt.jsonl --limit 6000
voxlm corpus gcide -o $D/all_gcide.jsonl --min-words 10 --max-words 45
voxlm corpus sharegpt-instructions -o $D/all_instr_long.jsonl --min-words 6 --max-words 45
# Each part is drawn from its own shuffle (seed 2); code and markup read badly and teach nothing.
voxlm select $D/all_sharegpt.jsonl -o $D/broad_sharegpt.jsonl --seed 2 --limit 1600 --plain --chunk 15:45 --id-suffix '#chunk'
voxlm select $D/all_instr_long.jsonl -o $D/broad_instr.jsonl --seed 2 --limit 1000 --plain \
    --skip-texts-in $D/instr_train.jsonl $D/instr_eval.jsonl
voxlm select $D/all_gcide.jsonl -o $D/broad_gcide.jsonl --seed 2 --limit 600
cat $D/broad_{sharegpt,instr,gcide}.jsonl > $D/broad_requests.jsonl && rm $D/broad_{sharegpt,instr,gcide}.jsonl
voxlm synth $D/broad_requests.jsonl $D/broad --voices $VOICES --num-workers 2
voxlm features $D/broad --audio-model whisper-tiny.en

# 7. Place names: countries, regions and cities are nearly absent from steps 5-6, and the connector
#    hears them as common words ("France" -> "friends"). 1,400 GCIDE definitions and 70 ShareGPT answer
#    chunks that name a place from the list below, none already spoken above (1,470 clips, ~25 min on
#    2 cores). No text mentions a capital: the bundled sample question stays unseen.
PLACES="France|Germany|Italy|Spain|Portugal|England|Scotland|Ireland|Wales|Britain|Greece|Turkey|Russia|Poland|Sweden"
PLACES+="|Norway|Denmark|Holland|Belgium|Switzerland|Austria|Hungary|Egypt|Africa|India|China|Japan|Persia|Arabia|Brazil"
PLACES+="|Mexico|Peru|Chile|Canada|America|Australia|Europe|Asia|Paris|London|Rome|Berlin|Madrid|Vienna|Athens|Lisbon"
PLACES+="|Moscow|Venice|Naples|Florence|Scandinavia|Siberia|Syria|Palestine"
NAMES_A_PLACE=(--match "\b($PLACES)\b" --exclude capital --plain)
voxlm select $D/all_gcide.jsonl -o $D/places_gcide.jsonl --seed 3 --limit 1400 "${NAMES_A_PLACE[@]}" \
    --skip-ids-in $D/broad_requests.jsonl
# The first sentence of an answer that names a place, with one sentence either side of it.
voxlm select $D/all_sharegpt.jsonl -o $D/places_sharegpt.jsonl --seed 3 "${NAMES_A_PLACE[@]}" --around-match 15:45 \
    --id-suffix '#places'
cat $D/places_{gcide,sharegpt}.jsonl > $D/places_requests.jsonl && rm $D/places_{gcide,sharegpt}.jsonl
voxlm synth $D/places_requests.jsonl $D/places --voices $VOICES --num-workers 2
voxlm features $D/places --audio-model whisper-tiny.en

# 8. More spoken instructions: step 2's 300 are few next to the connector's other training data. The
#    next 600 of step 1's shuffled instructions (instr_more.jsonl, none of them in instr_eval), answered
#    by the teacher and spoken like step 2's (~30 min on 2 cores, most of it the teacher).
voxlm imitate $D/instr_more.jsonl --mode instruct --out $D/instruct-more --teacher $TEACHER --batch-size 16 --max-new-tokens 64 --seed 1
voxlm synth $D/instruct-more/clips.jsonl $D/speech-instruct-more --voices $VOICES --num-workers 2
voxlm features $D/speech-instruct-more --audio-model whisper-tiny.en

# 9. Alignment speech at scale (issue 17): the alignment stage has no LLM pass, so it can take far more
#    speech than the LM stages. The 18 fast training voices (`--voices train,-kokoro`: piper, hibari,
#    4 flite and 12 espeak voices), a share of clips with rate, pitch, reverb, noise or music
#    (`--augment random`), over what users say: everyday questions and requests (the `questions`
#    source: headword, saying, number and place questions), ShareGPT first turns, and more prose
#    (ShareGPT answer chunks, GCIDE definitions). Train splits only; no fortune of eval_passages is
#    quoted, no instruction of instr_eval spoken, nothing of steps 5-7 spoken twice. Shuffled, so a
#    synthesis stopped part-way (it resumes) holds every kind. 31,923 clips, ~48 h of speech by word
#    count. Kokoro is left out here because it dominates the cost: with its 14 training vectors in the
#    pool, two workers made ~4.4x real time (~11 h for this step); without them, 3,500 such clips
#    (5.55 h) took 135 s on 2 cores (148x real time, ~34x faster). Here: 46.96 h in 905 s of synthesis
#    plus 1,375 s of features (23.2 clips/s), measured on 2 cores. Steps 4-8 keep a Kokoro voice in the
#    mix. recipes/align-scale.yaml trains on this (docs/align-scale).
voxlm corpus questions -o $D/all_questions.jsonl --min-words 3 --min-prose 0.6
voxlm corpus sharegpt -o $D/all_sharegpt_more.jsonl --limit 30000
voxlm select $D/all_questions.jsonl -o $D/scale_questions.jsonl --skip-items-in $D/eval_passages.jsonl
voxlm select $D/all_instr_long.jsonl -o $D/scale_instr.jsonl --seed 4 --limit 8000 --plain \
    --skip-texts-in $D/instr_eval.jsonl --skip-ids-in $D/broad_requests.jsonl
voxlm select $D/all_sharegpt_more.jsonl -o $D/scale_sharegpt.jsonl --seed 4 --limit 5000 --plain --chunk 15:45 \
    --id-suffix '#chunk' --skip-ids-in $D/broad_requests.jsonl $D/places_requests.jsonl
voxlm select $D/all_gcide.jsonl -o $D/scale_gcide.jsonl --seed 4 --limit 3000 \
    --skip-ids-in $D/broad_requests.jsonl $D/places_requests.jsonl
cat $D/scale_{questions,instr,sharegpt,gcide}.jsonl > $D/scale_all.jsonl
voxlm select $D/scale_all.jsonl -o $D/scale_requests.jsonl --seed 5 && rm $D/scale_{questions,instr,sharegpt,gcide,all}.jsonl
voxlm synth $D/scale_requests.jsonl $D/scale --voices train,-kokoro --augment random --num-workers 2
voxlm features $D/scale --audio-model whisper-tiny.en

# 9b. For recipes/align-encoder.yaml, which trains the encoder's top layer: the frames below that layer
#     (features-whisper-tiny.en-below-top1), for the scale speech and the hearing set.
voxlm features $D/hearing --audio-model whisper-tiny.en --encoder-trainable-layers 1
voxlm features $D/scale --audio-model whisper-tiny.en --encoder-trainable-layers 1
# 10. Qwen as its own teacher, for VoxLM-Qwen's LM stages (recipes/qwen-scale.yaml, issue 14): the
#     spoken instructions of steps 2 and 8 and the MTBI passages, answered by Qwen2.5-Coder-0.5B-Instruct
#     instead of SmolLM2. Same seeds, so the same clips: steps 4 and 8 already spoke them.
Q=$D/qwen
QWEN=(--teacher qwen2.5-coder-0.5b-instruct --batch-size 16 --max-new-tokens 64)
voxlm imitate $D/instr_train.jsonl --mode instruct --out $Q/instruct "${QWEN[@]}"
voxlm imitate $D/instr_eval.jsonl --mode instruct --out $Q/instruct-eval "${QWEN[@]}"
voxlm imitate $D/instr_more.jsonl --mode instruct --out $Q/instruct-more "${QWEN[@]}" --seed 1
voxlm imitate $D/mtbi_passages.jsonl --mode mtbi --per-passage 1 --out $Q/mtbi "${QWEN[@]}"
voxlm imitate $D/eval_passages.jsonl --mode mtbi --per-passage 1 --out $Q/mtbi-eval "${QWEN[@]}"
for s in mtbi instruct; do
    voxlm split-jsonl $Q/$s/examples.jsonl $Q/$s/train.jsonl
    voxlm split-jsonl $Q/$s-eval/examples.jsonl $Q/$s/eval.jsonl
done
