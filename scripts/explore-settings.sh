#!/usr/bin/env bash
# Reproduces how the fine-tuning settings of `fratmae experiment --preset cpu|demo` were chosen:
# on the *validation* cases of phantom cohorts that no experiment uses (seeds 9001-9003; the
# experiment's cohorts use seeds 101, 202 and 303), never on any test split. Prints one line per
# run to OUT/results.txt (docs/experiments.md shows the numbers of 2026-12-02).
#
#   scripts/explore-settings.sh [OUT] [FRATMAE] [GROUP...]   (all groups: about 2 hours on two cores)
#
# Groups: seg (width, lr, crops), overlap, stage, probe, petclip (PET clipped at SUV 50, not 20),
# misses (which lesions the best setting misses), stage2 (CLS pooling, 400 staging cases),
# capacity (encoder patch 4, or 4 layers of 128), vit (frozen random encoders, lr 1e-3),
# noskip (no full-resolution convolutions on the raw input: only the encoders' path),
# elr (the encoders at a fifth or a tenth of the decoder's learning rate), ds (deep supervision;
# the encoders' path alone with patch 4), prepath (the encoders' path from pre-trained encoders),
# prescale (pre-training at the fine-tuning's scale), long (3,000 steps, trained and frozen
# encoders), fov (field of view, intensity jitter, CT window), fit (can the model fit large lesions:
# the 3,000-step run scored on its own training cases, and two training cases learnt alone),
# stagemax (staging from whole bodies whose PET was shrunk by its maximum, not sampled
# trilinearly: `preprocess --pet-resize max`; coronal and axial, three seeds each),
# stageceiling (a ceiling for staging: the same cases with their PET replaced by the true lesion
# masks at SUV 10, nothing else hot; the CT unchanged, so the diaphragm is still visible),
# stagepool (staging pooled within regions of the body, `--pool regions`, against max and
# mean-max: on the ceiling's cases, then on the images, then on a cohort of 400 cases),
# stageseg (staging from a segmentation model's predicted lesions, from the true ones and from the
# images, with the no-encoder head `--pool input` and with the encoders), stageseg_cpu (the same
# with the `cpu` study's full-label segmentation model), convenc (a convolutional encoder on the
# raw PET/CT beside the ViTs), convenc_seeds (its 3,000-step comparison with a second seed),
# stageseg_ce (staging from that model's lesions).
#
# Segmentation: 100 AutoPET-like cases, 30% validation (16 of the 30 with lesions), 5% test
# (unused), the rest training; every run 600 steps of batch 4, scored on the validation cases
# with sliding windows (overlap 0.25). Staging: 200 Hodgkin cases, 30% validation.
set -euo pipefail
out=${1:-out/explore}
F=${2:-build/fratmae}
F=$(realpath "$F")
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
cd "$out"
res=results.txt

cohort_seg() {
  [ -d seg ] || { $F -q phantom --out seg_raw --cases 100 --seed 9001 && $F -q preprocess -d seg_raw -o seg --size 32 32 48; }
}
cohort_stage() {
  [ -d stage64 ] || { $F -q phantom --out stage_raw --cases 200 --seed 9002 --cohort hodgkin &&
                      $F -q preprocess -d stage_raw -o stage --size 32 32 48 --no-native &&
                      $F -q preprocess -d stage_raw -o stage64 --size 32 64 96 --no-native; }
}
cohort_pre() {
  [ -d pre ] || { $F -q phantom --out pre_raw --cases 200 --seed 9003 && $F -q preprocess -d pre_raw -o pre --size 32 32 48 --no-native; }
}

# The last validation line of a run: Dice, FP volume, predicted lesions (seg) or accuracy (stage).
summary() {
  python3 - "$1" <<'PY'
import json, sys
for line in open(sys.argv[1] + "/metrics.jsonl"):
    m = json.loads(line)
    if "val_dice" in m:
        print("step %d val Dice %.3f FP %.1f mL lesions %.2f" % (m["step"], m["val_dice"] or 0, m["val_fp_volume_ml"], m["val_pred_lesions"]), end="; ")
    if "val_accuracy" in m:
        print("step %d val acc %.3f train acc %.3f" % (m["step"], m["val_accuracy"], m["train_accuracy"]), end="; ")
print()
PY
}

seg() {  # NAME [finetune flags]   (cache: $SEG_CACHE, default seg; steps: $SEG_STEPS, default 600; batch: $SEG_BATCH, default 4; model: $SEG_PRESET, default tiny)
  local name=$1; shift
  [ -d "runs/$name" ] && return
  local t=$(date +%s)
  $F -q finetune --task seg --cache "${SEG_CACHE:-seg}" --out "runs/$name" --preset "${SEG_PRESET:-tiny}" --test-fraction 0.05 --val-fraction 0.3 \
     --overlap 0.25 --evaluate false --steps "${SEG_STEPS:-600}" --batch "${SEG_BATCH:-4}" "$@"
  echo "seg $name ($*): $(( $(date +%s) - t )) s: $(summary runs/$name)" | tee -a $res
}

stage() {  # NAME CACHE [finetune flags]   (learning rate: $STAGE_LR, default 1e-3)
  local name=$1 cache=$2; shift 2
  [ -d "runs/$name" ] && return
  local t=$(date +%s)
  $F -q finetune --task stage --cache "$cache" --out "runs/$name" --preset tiny --test-fraction 0.05 \
     --val-fraction 0.3 --evaluate false --batch 8 --lr "${STAGE_LR:-1e-3}" "$@"
  echo "stage $name ($cache $*): $(( $(date +%s) - t )) s: $(summary runs/$name)" | tee -a $res
}

# A run's validation cases through `fratmae predict` at another overlap, scored by `fratmae evaluate`.
overlap() {  # RUN OVERLAP
  local run=$1 ov=$2 d=overlap/$1_$2
  rm -rf "$d"; mkdir -p "$d/pred" "$d/truth"
  for id in $(python3 -c "import json; print(' '.join(json.load(open('runs/$run/config.json'))['split']['val']))"); do
    $F -q predict --model "runs/$run" --ct "seg_raw/$id/CTres.nii.gz" --pet "seg_raw/$id/SUV.nii.gz" --out "$d/p/$id" --overlap "$ov"
    cp "$d/p/$id/SEG.nii.gz" "$d/pred/$id.nii.gz"; cp "seg_raw/$id/SEG.nii.gz" "$d/truth/$id.nii.gz"
  done
  echo "overlap $run $ov: $($F -q evaluate --pred "$d/pred" --truth "$d/truth" | grep -E '^(dice|pred_lesions) ' | tr -s ' ' | tr '\n' ';')" | tee -a $res
}

group_seg() {
  seg w16 --feature-size 16 --lr 2e-3 --lesion-prob 0.5
  seg w8 --feature-size 8 --lr 2e-3 --lesion-prob 0.5
  seg w8_lr5 --feature-size 8 --lr 5e-3 --lesion-prob 0.5
  seg w8_lp80 --feature-size 8 --lr 2e-3 --lesion-prob 0.8
  SEG_BATCH=8 seg w8_b8 --feature-size 8 --lr 2e-3 --lesion-prob 0.5
  seg w8_lr5_lp33 --feature-size 8 --lr 5e-3 --lesion-prob 0.33
  seg w8_lr5_lp33_centred --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --lesion-centred
}
group_overlap() {
  for ov in 0 0.25 0.5; do overlap w8_lr5_lp33 $ov; done
  for ov in 0.25 0.5; do overlap w8_lr5_lp33_centred $ov; done
}
group_stage() {
  cohort_stage
  for pool in mean max mean-max; do stage "s32_${pool}" stage --steps 400 --val-every 100 --pool $pool; done
  stage s32_mean-max_axial stage --steps 400 --val-every 100 --pool mean-max --stack axial
  for pool in mean mean-max; do stage "s32_${pool}_3k" stage --steps 3000 --val-every 500 --pool $pool; done
  stage s32_mean-max_3k_lr3 stage --steps 3000 --val-every 500 --pool mean-max --lr 3e-3
  for pool in mean mean-max; do stage "s64_${pool}" stage64 --steps 1500 --val-every 500 --pool $pool; done
}
group_probe() {
  cohort_stage
  cohort_pre
  # What pre-training gives a frozen encoder (32 x 32 x 48 stacks).
  for m in fratmae mae; do
    [ -d "pre_$m" ] || $F -q pretrain --cache pre --out "pre_$m" --method $m --steps 2000 --batch 8 --lr 1e-3 --log-every 50
  done
  stage probe_random stage --steps 400 --val-every 200 --pool mean-max --freeze-encoders
  stage probe_fratmae stage --steps 400 --val-every 200 --pool mean-max --freeze-encoders --init pre_fratmae
  stage probe_mae stage --steps 400 --val-every 200 --pool mean-max --freeze-encoders --init pre_mae
}
# PET clipped at SUV 50 instead of 20: kidneys and urine of PSMA studies (SUV 25-60) and the
# hottest lesions are all 1.0 at a clip of 20, so the hottest lesions look like urine.
group_petclip() {
  [ -d seg_pet50 ] || $F -q preprocess -d seg_raw -o seg_pet50 --size 32 32 48 --pet-max 50
  seg w8_lr5_lp33 --feature-size 8 --lr 5e-3 --lesion-prob 0.33
  seg w8_lr5_lp33_s1 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --seed 1
  SEG_CACHE=seg_pet50 seg w8_lr5_lp33_pet50 --feature-size 8 --lr 5e-3 --lesion-prob 0.33
  SEG_CACHE=seg_pet50 seg w8_lr5_lp33_pet50_s1 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --seed 1
}

# Which lesions the best segmentation setting misses, by site, contrast, SUV and size
# (scripts/lesion-misses.py on the validation cases' predictions).
# RUN's predictions of CASE... (seg_raw) into DIR, each lesion scored into DIR/lesions.txt.
score_lesions() {  # DIR RUN CASE...
  local d=$1 run=$2; shift 2
  [ -f "$d/lesions.txt" ] && return
  rm -rf "$d"; mkdir -p "$d"
  for id in "$@"; do
    $F -q predict --model "runs/$run" --ct "seg_raw/$id/CTres.nii.gz" --pet "seg_raw/$id/SUV.nii.gz" --out "$d/$id" --overlap 0.25
  done
  python3 "$here/lesion-misses.py" "$d" seg_raw > "$d/lesions.txt"
  echo "misses of $run ($# cases): $d/lesions.txt" | tee -a $res
}
split_cases() {  # RUN SPLIT [N]: the first N (all) cases of a run's split
  python3 -c "import json, sys; c = json.load(open('runs/$1/config.json'))['split']['$2']; print(' '.join(c[:int(sys.argv[1])] if sys.argv[1] else c))" "${3:-}"
}
misses() {  # RUN: its validation cases
  score_lesions "misses/$1" "$1" $(split_cases "$1" val)
}
group_misses() {
  SEG_STEPS=1500 seg w16_lr5_lp33_1500 --feature-size 16 --lr 5e-3 --lesion-prob 0.33 --val-every 500
  misses w16_lr5_lp33_1500
}
# Large lesions are found but their inside is not (misses: 14% of the voxels of lesions >= 8 mL
# covered): is the encoders' resolution (patch 8: 40 mm tokens) or capacity the limit?
group_capacity() {
  seg w8_lr5_lp33 --feature-size 8 --lr 5e-3 --lesion-prob 0.33
  misses w8_lr5_lp33
  SEG_PRESET=tiny:patch=4 seg w8_lr5_lp33_p4 --feature-size 8 --lr 5e-3 --lesion-prob 0.33
  misses w8_lr5_lp33_p4
  SEG_PRESET=tiny:depth=4,dim=128 seg w8_lr5_lp33_d4w128 --feature-size 8 --lr 5e-3 --lesion-prob 0.33
  misses w8_lr5_lp33_d4w128
}

# Does the ViT path carry anything? Encoders frozen at their random initialisation (only the
# UNETR decoder learns), and a lower learning rate (5e-3 may be too high for the transformer).
group_vit() {
  seg w8_lr5_lp33_frozen --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --freeze-encoders
  misses w8_lr5_lp33_frozen
  seg w8_lr1_lp33 --feature-size 8 --lr 1e-3 --lesion-prob 0.33
  misses w8_lr1_lp33
}

# The decoder without its full-resolution convolutions on the raw PET/CT (--input-skip false):
# can the encoders' path segment when it cannot be bypassed?
group_noskip() {
  seg w8_lr5_lp33_noskip --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --input-skip false
  misses w8_lr5_lp33_noskip
  seg w8_lr5_lp33_noskip_frozen --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --input-skip false --freeze-encoders
  seg w8_lr1_lp33_noskip --feature-size 8 --lr 1e-3 --lesion-prob 0.33 --input-skip false
  seg w8_lr5_lp80_noskip --feature-size 8 --lr 5e-3 --lesion-prob 0.8 --input-skip false
}

# The encoders at a fifth (a tenth) of the decoder's learning rate (--encoder-lr-scale).
group_elr() {
  seg w8_lr5_lp33_elr02 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --encoder-lr-scale 0.2
  misses w8_lr5_lp33_elr02
  seg w8_lr5_lp33_elr01 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --encoder-lr-scale 0.1
  seg w8_lr5_lp33_noskip_elr02 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --input-skip false --encoder-lr-scale 0.2
}

# Deep supervision (aux heads on the decoder's coarse levels, majority-pooled truth): with and
# without the input skip; and the encoders' path alone with patch 4 (finer tokens).
group_ds() {
  seg w8_lr5_lp33_ds --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --deep-supervision true
  seg w8_lr5_lp33_ds_noskip --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --deep-supervision true --input-skip false
  SEG_PRESET=tiny:patch=4 seg w8_lr5_lp33_p4_noskip --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --input-skip false
}

# Staging: the CLS token instead of the mean of the tokens, and twice the cases (400, seed 9004).
cohort_stage400() {
  [ -d stage400_64 ] || { $F -q phantom --out stage400_raw --cases 400 --seed 9004 --cohort hodgkin &&
                          $F -q preprocess -d stage400_raw -o stage400_64 --size 32 64 96 --no-native; }
}
group_stage2() {
  cohort_stage
  stage s64_mean_v250 stage64 --steps 1500 --val-every 250 --pool mean
  stage s64_cls stage64 --steps 1500 --val-every 250 --pool cls
  cohort_stage400
  stage s400_64_mean stage400_64 --steps 1500 --val-every 250 --pool mean
  stage s400_64_cls stage400_64 --steps 1500 --val-every 250 --pool cls
}

# Does pre-training give the encoders' path anything it can segment with? The path alone
# (--input-skip false), trained and frozen, and the whole network, from random encoders and
# from FratMAE / MAE pre-trainings as the `cpu` preset makes them (whole body 32 x 64 x 96,
# 1,500 steps of 8 on 200 cases); the same 16 x 32 x 48 crops for every init.
cohort_pre64() {
  [ -d pre_raw ] || $F -q phantom --out pre_raw --cases 200 --seed 9003
  [ -d pre64 ] || $F -q preprocess -d pre_raw -o pre64 --size 32 64 96 --no-native
}
group_prepath() {
  cohort_pre64
  for m in fratmae mae; do
    [ -d "pre64_$m" ] || { local t=$(date +%s)
      $F -q pretrain --cache pre64 --out "pre64_$m" --method $m --steps 1500 --batch 8 --lr 1e-3 --log-every 50
      echo "pretrain pre64_$m: $(( $(date +%s) - t )) s: $(tail -1 pre64_$m/metrics.jsonl)" | tee -a $res; }
  done
  # Most telling first: the path alone from FratMAE's and from random encoders (trained, frozen).
  for run in fratmae:noskip fratmae:noskip_frozen random:noskip random:noskip_frozen mae:noskip_frozen mae:noskip \
             fratmae:skip random:skip mae:skip; do
    local init=${run%%:*} kind=${run#*:}
    local flags=(--feature-size 8 --lr 5e-3 --lesion-prob 0.33 --input 16 32 48)
    [ $init = random ] || flags+=(--init "pre64_$init")
    case $kind in
      noskip) flags+=(--input-skip false) ;;
      noskip_frozen) flags+=(--input-skip false --freeze-encoders) ;;
    esac
    seg "w8_lr5_lp33_${init}64_${kind}" "${flags[@]}"
  done
}

# Pre-training at the fine-tuning's scale: the pre-training cohort's whole body kept at its native
# 5 x 5 x 6 mm grid (64 x 104 x 200, no resize) and stacks of 16 adjacent coronal slices
# (--stride 1), so a token covers 40 x 40 x 48 mm as in the 16 x 32 x 48 fine-tuning crops
# (the prepath group's pre-training: 80 x 65 x 100 mm). FratMAE, 1,500 steps of 8 as there; then
# the path alone (frozen) and the whole network (trained) from it, from random encoders and from
# the prepath group's FratMAE; lesion coverage by size for the whole networks.
group_prescale() {
  [ -d pre_raw ] || $F -q phantom --out pre_raw --cases 200 --seed 9003
  [ -d pre_nat ] || $F -q preprocess -d pre_raw -o pre_nat --size 64 104 200 --no-native
  [ -d prenat_fratmae ] || { local t=$(date +%s)
    $F -q pretrain --cache pre_nat --out prenat_fratmae --method fratmae --steps 1500 --batch 8 --lr 1e-3 --stride 1 --log-every 50
    echo "pretrain prenat_fratmae: $(( $(date +%s) - t )) s: $(tail -1 prenat_fratmae/metrics.jsonl)" | tee -a $res; }
  local flags=(--feature-size 8 --lr 5e-3 --lesion-prob 0.33 --input 16 32 48)
  seg w8_lr5_lp33_fratnat_noskip_frozen "${flags[@]}" --init prenat_fratmae --input-skip false --freeze-encoders
  seg w8_lr5_lp33_fratnat_skip "${flags[@]}" --init prenat_fratmae
  seg w8_lr5_lp33_random64_skip "${flags[@]}"
  [ -d pre64_fratmae ] && seg w8_lr5_lp33_fratmae64_skip "${flags[@]}" --init pre64_fratmae
  for r in w8_lr5_lp33_fratnat_skip w8_lr5_lp33_random64_skip w8_lr5_lp33_fratmae64_skip; do
    [ -d "runs/$r" ] && misses "$r"
  done
}

# Does the plateau lift with a longer schedule, and do the encoders matter then? 3,000 steps of
# the `cpu` setting, with the encoders trained and frozen at their random initialisation; the
# lesions it misses by size. Then what else was tried on the same 600 steps: the paper's field of
# view (16 x 64 x 96 crops, 80 x 320 x 576 mm, at batch 2: twice the voxels of a batch of four
# 16 x 32 x 48 crops), stronger intensity jitter (x U(0.7, 1.3)), a soft-tissue CT window
# (-200..300 HU instead of -1000..1000), each against the same setting's 600 steps (seed 0) and
# a second seed of the trained / frozen pair.
group_long() {
  seg w8_lr5_lp33 --feature-size 8 --lr 5e-3 --lesion-prob 0.33
  seg w8_lr5_lp33_frozen --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --freeze-encoders
  SEG_STEPS=1200 seg w8_lr5_lp33_1200 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --val-every 300
  SEG_STEPS=3000 seg w8_lr5_lp33_3000 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --val-every 1000
  SEG_STEPS=3000 seg w8_lr5_lp33_3000_frozen --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --val-every 1000 --freeze-encoders
  misses w8_lr5_lp33_3000
  seg w8_lr5_lp33_s1 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --seed 1
  seg w8_lr5_lp33_frozen_s1 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --seed 1 --freeze-encoders
}
group_fov() {
  SEG_BATCH=2 seg w8_lr5_lp33_64x96_b2 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --input 16 64 96
  seg w8_lr5_lp33_int30 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --intensity-scale 0.3
  [ -d seg_ctw ] || $F -q preprocess -d seg_raw -o seg_ctw --size 32 32 48 --ct-window -200 300
  SEG_CACHE=seg_ctw seg w8_lr5_lp33_ctw --feature-size 8 --lr 5e-3 --lesion-prob 0.33
}

# Can the model fit large lesions at all? The 3,000-step run of `long` scored on 20 of its own
# training cases; then the same setting trained on two training cases alone (PHANTOM_0003 and
# PHANTOM_0007 of the cohort: nine lesions of 22-39 mm, some merged into components of 42-353 voxels), 1,000 steps of 2, scored
# on those two. Memorising two cases shows the network can represent a large lesion's inside;
# failing on its own 65 training cases shows where it underfits.
misses_train() {  # RUN N: the first N of its training cases
  score_lesions "misses/$1_train" "$1" $(split_cases "$1" train "$2")
}
group_fit() {
  SEG_STEPS=3000 seg w8_lr5_lp33_3000 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --val-every 1000
  misses_train w8_lr5_lp33_3000 20
  if [ ! -d two ]; then
    rm -rf two_raw; mkdir two_raw
    head -1 seg_raw/metadata.csv > two_raw/metadata.csv
    for c in PHANTOM_0003 PHANTOM_0007; do ln -s "../seg_raw/$c" "two_raw/$c"; grep "^$c," seg_raw/metadata.csv >> two_raw/metadata.csv; done
    $F -q preprocess -d two_raw -o two --size 32 32 48
  fi
  local name=w8_lr5_lp33_two_cases
  if [ ! -d "runs/$name" ]; then
    $F -q finetune --task seg --cache two --out "runs/$name" --preset tiny --test-fraction 0 --val-fraction 0 \
       --val-every -1 --evaluate false --steps 1000 --batch 2 --feature-size 8 --lr 5e-3 --lesion-prob 0.33
  fi
  score_lesions "misses/$name" "$name" PHANTOM_0003 PHANTOM_0007
}

group_stagemax() {
  cohort_stage
  [ -d stage64max ] || $F -q preprocess -d stage_raw -o stage64max --size 32 64 96 --no-native --pet-resize max
  # The `cpu` preset's staging schedule (800 steps of 8, lr 1e-3, mean pooling): coronal stacks
  # with three seeds, then axial stacks with one.
  for seed in 0 1 2; do
    for c in stage64 stage64max; do stage "${c}_800_s$seed" $c --steps 800 --val-every 200 --seed $seed; done
  done
  for c in stage64 stage64max; do stage "${c}_800_axial_s0" $c --steps 800 --val-every 200 --stack axial; done
}

# lesions_as_pet SRC DST: a staging cohort with every PET replaced by its true lesions: SUV 10
# inside a lesion, 0 elsewhere (SEG.nii.gz with its NIfTI scale slope set to 10), CT and stage
# unchanged. If the staging head cannot learn the stage from this, the images are not what
# stops it (groups stageceiling and stagepool).
# With MASKS (a folder of CASE/SEG.nii.gz, e.g. `fratmae predict` outputs) those masks replace
# the PET instead of the true ones, on a background of SUV 0.1 (group stageseg).
lesions_as_pet() {  # SRC DST [MASKS]
  rm -rf "$2" && cp -r "$1" "$2"
  python3 - "$2" "${3:-}" <<'PY'
import gzip, pathlib, struct, sys
masks = pathlib.Path(sys.argv[2]) if sys.argv[2] else None
for case in sorted(pathlib.Path(sys.argv[1]).iterdir()):
    if not case.is_dir():
        continue
    seg = bytearray(gzip.open((masks / case.name if masks else case) / "SEG.nii.gz").read())
    assert struct.unpack("<hh", seg[70:74]) == (2, 8), f"{case}: SEG is not uint8"
    # scl_slope, scl_inter: SUV = 10 x label; predicted masks get a background of 0.1 so that a
    # case where the model found nothing is not refused as an empty PET.
    seg[112:120] = struct.pack("<ff", 10.0, 0.1 if masks else 0.0)
    with gzip.open(case / "SUV.nii.gz", "wb", compresslevel=1) as f:
        f.write(bytes(seg))
PY
}
cohort_ceiling() {
  cohort_stage
  if [ ! -d stage64ceil ]; then
    lesions_as_pet stage_raw stage_ceil_raw
    $F -q preprocess -d stage_ceil_raw -o stage64ceil --size 32 64 96 --no-native
  fi
}
group_stageceiling() {
  cohort_ceiling
  for seed in 0 1 2; do stage "stage64ceil_800_s$seed" stage64ceil --steps 800 --val-every 200 --seed $seed; done
  stage "stage64ceil_800_axial_s0" stage64ceil --steps 800 --val-every 200 --stack axial
  stage "stage64ceil_3000_s0" stage64ceil --steps 3000 --val-every 500
}

# Pooling that keeps where the hot tokens are (`--pool regions`: the maximum within 2 x 4 regions
# of the body) against max and mean-max, first on the ceiling cache (where a model must succeed),
# then on the images; the cpu preset's staging schedule otherwise.
group_stagepool() {
  cohort_ceiling
  for p in max mean-max; do stage "ceil_pool_$p" stage64ceil --steps 800 --val-every 200 --pool $p --seed 0; done
  for seed in 0 1 2; do stage "ceil_pool_regions_s$seed" stage64ceil --steps 800 --val-every 200 --pool regions --seed $seed; done
  stage ceil_regions_frozen_s0 stage64ceil --steps 800 --val-every 200 --pool regions --freeze-encoders --seed 0
  STAGE_LR=3e-4 stage ceil_regions_lr3e-4_s0 stage64ceil --steps 800 --val-every 200 --pool regions --seed 0
  for seed in 0 1 2; do stage "img_regions_s$seed" stage64 --steps 800 --val-every 200 --pool regions --seed $seed; done
  stage img_regions_axial_s0 stage64 --steps 800 --val-every 200 --pool regions --stack axial --seed 0
  for seed in 0 1 2; do STAGE_LR=3e-4 stage "img_regions_lr3e-4_s$seed" stage64 --steps 800 --val-every 200 --pool regions --seed $seed; done
  # Twice the cases: 400 Hodgkin cases of another seed (120 validation, 260 training).
  [ -d stage400_64 ] || { $F -q phantom --out stage400_raw --cases 400 --seed 9004 --cohort hodgkin &&
                          $F -q preprocess -d stage400_raw -o stage400_64 --size 32 64 96 --no-native; }
  for seed in 0 1 2; do stage "s400_regions_s$seed" stage400_64 --steps 800 --val-every 200 --pool regions --seed $seed; done
  stage s400_mean_s0 stage400_64 --steps 800 --val-every 200 --seed 0
  stage s400_regions_1600_s0 stage400_64 --steps 1600 --val-every 400 --pool regions --seed 0
  # ... and its ceiling (the true lesions as the PET), 260 training cases.
  [ -d stage400ceil ] || { lesions_as_pet stage400_raw stage400_ceil_raw &&
                           $F -q preprocess -d stage400_ceil_raw -o stage400ceil --size 32 64 96 --no-native; }
  stage s400ceil_mean_s0 stage400ceil --steps 800 --val-every 200 --seed 0
  stage s400ceil_regions_s0 stage400ceil --steps 800 --val-every 200 --pool regions --seed 0
  stage s400ceil_mean_3000_s0 stage400ceil --steps 3000 --val-every 500 --seed 0
  for lr in 1e-4 3e-4; do STAGE_LR=$lr stage "s400ceil_mean_lr${lr}_s0" stage400ceil --steps 800 --val-every 200 --seed 0; done
}

# predicted_lesion_cache MODEL OVERLAP NAME: the 400-case staging cohort with every PET replaced by
# MODEL's predicted lesions (`fratmae predict` at OVERLAP), preprocessed into the cache NAME.
cohort_stage400() {
  [ -d stage400_64 ] || { $F -q phantom --out stage400_raw --cases 400 --seed 9004 --cohort hodgkin &&
                          $F -q preprocess -d stage400_raw -o stage400_64 --size 32 64 96 --no-native; }
}

predicted_lesion_cache() {
  local model=$1 ov=$2 name=$3
  [ -d "$name" ] && return
  local t=$(date +%s)
  for c in stage400_raw/*/; do
    local id=$(basename "$c")
    [ -f "${name}_masks/$id/SEG.nii.gz" ] ||
      $F -q predict --model "$model" --ct "$c/CTres.nii.gz" --pet "$c/SUV.nii.gz" --out "${name}_masks/$id" --overlap "$ov"
  done
  echo "$name: 400 cases predicted by $model in $(( $(date +%s) - t )) s" | tee -a $res
  lesions_as_pet stage400_raw "${name}_raw" "${name}_masks"
  $F -q preprocess -d "${name}_raw" -o "$name" --size 32 64 96 --no-native
}

# Staging from where a segmentation model finds lesions: the `long` group's 3,000-step model
# (trained on the segmentation cohort, seed 9001) predicts every case of the 400-case staging
# cohort (`fratmae predict`, overlap 0.25); its masks replace the PET as in lesions_as_pet. The
# staging head then reads the input's region maxima (`--pool input`, no encoder) or the encoders,
# beside the same on the true lesions (the ceiling) and on the images. About 35 minutes.
group_stageseg() {
  SEG_STEPS=3000 seg w8_lr5_lp33_3000 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --val-every 1000
  cohort_stage400
  [ -d stage400ceil ] || { lesions_as_pet stage400_raw stage400_ceil_raw &&
                           $F -q preprocess -d stage400_ceil_raw -o stage400ceil --size 32 64 96 --no-native; }
  predicted_lesion_cache runs/w8_lr5_lp33_3000 0.25 stage400pred
  for c in stage400ceil stage400pred stage400_64; do
    for seed in 0 1 2; do stage "${c}_input_s$seed" $c --steps 800 --val-every 200 --pool input --seed $seed; done
    stage "${c}_input_axial_s0" $c --steps 800 --val-every 200 --pool input --stack axial --seed 0
  done
  stage stage400pred_mean_s0 stage400pred --steps 800 --val-every 200 --seed 0
  stage stage400pred_regions_s0 stage400pred --steps 800 --val-every 200 --pool regions --seed 0
}

# The same with the `cpu` study's full-label segmentation model (seed 0; run `fratmae experiment
# --preset cpu --out out/cpu` first) at the study's overlap 0: is that model's lesion map as good
# for staging as the 3,000-step one's? (validation cases of the exploration cohort only)
group_stageseg_cpu() {
  predicted_lesion_cache "$(realpath "$here/../out/cpu/finetune/seg/baseline_100pct/seed0")" 0 stage400cpupred
  for seed in 0 1 2; do stage "stage400cpupred_input_s$seed" stage400cpupred --steps 800 --val-every 200 --pool input --seed $seed; done
  stage stage400cpupred_input_axial_s0 stage400cpupred --steps 800 --val-every 200 --pool input --stack axial --seed 0
}

# A convolutional encoder beside the ViTs (`--conv-encoder true`: a stride-2 conv block per
# decoder level from the raw PET/CT, joined to every skip; model/unetr.h): the full-resolution
# convolutions see about 9 voxels, too little to tell a large lesion's inside from an organ; the
# conv encoder's view grows to tens of voxels. The `cpu` setting at 600 steps with and without it,
# with the ViTs frozen at random (do the ViTs matter then?), and 3,000 steps; the lesions each
# misses by size; then the `cpu` preset's 800 steps with and without it. About 45 minutes on two cores.
group_convenc() {
  seg w8_lr5_lp33 --feature-size 8 --lr 5e-3 --lesion-prob 0.33
  seg w8_lr5_lp33_ce --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --conv-encoder true
  misses w8_lr5_lp33_ce
  seg w8_lr5_lp33_ce_frozen --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --conv-encoder true --freeze-encoders
  SEG_STEPS=3000 seg w8_lr5_lp33_ce_3000 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --conv-encoder true --val-every 1000
  misses w8_lr5_lp33_ce_3000
  # the `cpu` preset's schedule (800 steps), with and without it
  SEG_STEPS=800 seg w8_lr5_lp33_800 --feature-size 8 --lr 5e-3 --lesion-prob 0.33
  SEG_STEPS=800 seg w8_lr5_lp33_ce_800 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --conv-encoder true
}

# The 3,000-step comparison again with a second seed for both, and the plain run of seed 0 in the
# same session; then 1,500 steps with and without it, two seeds (about 50 minutes).
group_convenc_seeds() {
  SEG_STEPS=3000 seg w8_lr5_lp33_ce_3000_s1 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --conv-encoder true --val-every 1000 --seed 1
  SEG_STEPS=3000 seg w8_lr5_lp33_3000_s1 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --val-every 1000 --seed 1
  SEG_STEPS=3000 seg w8_lr5_lp33_3000 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --val-every 1000
  # half the schedule (1,500 steps): does the gain start before 3,000?
  SEG_STEPS=1500 seg w8_lr5_lp33_1500 --feature-size 8 --lr 5e-3 --lesion-prob 0.33
  SEG_STEPS=1500 seg w8_lr5_lp33_ce_1500 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --conv-encoder true
  SEG_STEPS=1500 seg w8_lr5_lp33_1500_s1 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --seed 1
  SEG_STEPS=1500 seg w8_lr5_lp33_ce_1500_s1 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --conv-encoder true --seed 1
}

# Staging from the lesions of the convolutional encoder's 3,000-step model (group convenc), as
# stageseg does with the plain UNETR's: the same 400 staging cases, overlap 0.25, the no-encoder
# head, three seeds and the axial stack; then where the false positives of this map and of the
# plain model's (group stageseg, if run) lie (scripts/lesion-regions.py; PYTHON: a python3 with
# numpy). About 25 minutes.
group_stageseg_ce() {
  SEG_STEPS=3000 seg w8_lr5_lp33_ce_3000 --feature-size 8 --lr 5e-3 --lesion-prob 0.33 --conv-encoder true --val-every 1000
  cohort_stage400
  predicted_lesion_cache runs/w8_lr5_lp33_ce_3000 0.25 stage400cepred
  for seed in 0 1 2; do stage "stage400cepred_input_s$seed" stage400cepred --steps 800 --val-every 200 --pool input --seed $seed; done
  stage stage400cepred_input_axial_s0 stage400cepred --steps 800 --val-every 200 --pool input --stack axial --seed 0
  # where each model's false positives lie (the plain model's map comes from group stageseg)
  for c in stage400cepred stage400pred; do
    [ -d "${c}_masks" ] && [ ! -f "${c}_regions.txt" ] &&
      "${PYTHON:-python3}" "$here/lesion-regions.py" "${c}_masks" stage400_raw "runs/${c}_input_s0" > "${c}_regions.txt"
  done
  return 0
}

cohort_seg
groups=("${@:3}")
[ ${#groups[@]} -gt 0 ] || groups=(seg overlap stage probe petclip)
for g in "${groups[@]}"; do "group_$g"; done
echo "explore-settings: done; results in $out/$res"
