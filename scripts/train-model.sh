#!/usr/bin/env bash
# `make model`: retrains the shipped injection classifier (config/models/injection.pcm) with the
# exact command that produced the committed file. Reads the train splits of ../shared/data (or
# $PC_EVAL_DATA) -- never the held-out ones -- plus the hand-written sets in training/injection/
# and the `match:` examples of the shipped rule pack; the concept lexicon
# (training/injection/lexicon.txt) goes into the model file.
#
#   scripts/train-model.sh [BUILD_DIR] [--check]
#
# --check trains into a temporary file and compares it with the committed one (`make eval` runs
# it): training is deterministic, so the same data and code give the same bytes.
set -euo pipefail
build=${1:-build}
check=${2:-}
data=${PC_EVAL_DATA:-../shared/data}
if [[ ! -d $data ]]; then
  echo "train-model: no training data at $data (set PC_EVAL_DATA)" >&2
  exit 2
fi
out=config/models/injection.pcm
report=/dev/stdout
if [[ $check == --check ]]; then
  out=$(mktemp --suffix=.pcm)
  report=/dev/null
fi
# The model records the command that made it, so the command must not depend on where the data
# is: it runs in a throwaway directory where ../shared/data is the data ($PC_EVAL_DATA or not)
# and training/ and config/ are this checkout's, with the relative paths the README shows.
bin=$(realpath "$build/portcullis-train")
out=$(realpath -m "$out")
view=$(mktemp -d)
trap 'rm -rf "$view"' EXIT
mkdir -p "$view/shared" "$view/repo"
ln -s "$(realpath "$data")" "$view/shared/data"
ln -s "$PWD/training" "$view/repo/training"
ln -s "$PWD/config" "$view/repo/config"
cd "$view/repo"
"$bin" -o "$out" --split train --lr 0.05 --block 256 --prior 0.05 \
  --lexicon training/injection/lexicon.txt \
  --examples config/rules/injection.yaml --rules config/rules/injection.yaml \
  ../shared/data/attacks_garak.jsonl ../shared/data/indirect_bipia.jsonl \
  ../shared/data/benign_prompts.jsonl \
  training/injection/attacks-extra.jsonl training/injection/benign-extra.jsonl \
  training/injection/benign-hard.jsonl training/injection/benign-technical.jsonl \
  training/injection/attacks-multi.jsonl training/injection/benign-multi.jsonl \
  training/injection/benign-llm-docs.jsonl training/injection/attacks-multi2.jsonl \
  training/injection/benign-multi2.jsonl training/injection/attacks-multi3.jsonl \
  training/injection/benign-multi3.jsonl training/injection/attacks-dialogue.jsonl \
  training/injection/benign-dialogue.jsonl training/injection/attacks-short.jsonl \
  training/injection/benign-short.jsonl training/injection/benign-roleplay.jsonl \
  training/injection/attacks-hi.jsonl training/injection/benign-hi.jsonl \
  training/injection/attacks-mt.jsonl training/injection/benign-mt.jsonl \
  training/injection/attacks-en.jsonl training/injection/benign-en.jsonl \
  training/injection/attacks-indirect-mt.jsonl training/injection/benign-indirect-mt.jsonl >"$report"
cd "$OLDPWD"
if [[ $check == --check ]]; then
  if cmp -s "$out" config/models/injection.pcm; then
    echo "train-model: retraining reproduces config/models/injection.pcm byte for byte"
  else
    echo "train-model: retraining gives a different file than config/models/injection.pcm" \
      "(data, code or options changed: run 'make model' and commit the result)" >&2
    rm -f "$out"
    exit 1
  fi
  rm -f "$out"
fi
