#!/usr/bin/env bash
# One time-boxed GPU sitting of the anime retrain (issue 15), for a bare CUDA machine with PyTorch:
#
#   scripts/train_gpu.sh PACK RUN_DIR MINUTES [key=value overrides...]
#
# PACK is `swishpaint data pack` output (train/ and val/), or a zip of it, which is how it travels to a
# lent machine: its working tree may hold 64 MiB, and thousands of small files cost more there than their
# bytes (make it with `python3 -m zipfile -c PACK.zip PACK/train PACK/val`; it is unpacked to a
# temporary folder). A short probe measures images per second first, so that `steps` (and with it the
# cosine schedule) ends when the time box does; SWISHPAINT_RATE=IMAGES_PER_S skips it, when an earlier
# sitting on the same kind of machine measured the rate (docs/anime-model.md). The run
# folder keeps checkpoints: the same command with --resume among the overrides' place (see
# docs/anime-corpus.md) continues it, on a GPU or on the CPU. RUN_DIR/hand-back is the newest
# checkpoint's generator (its weight average with ema_decay) and discriminator in fp16 (a few MB):
# what comes back from a lent machine,
# and what init_from=... starts the next sitting from.
set -euo pipefail
if (($# < 3)); then
  echo "usage: scripts/train_gpu.sh PACK[.zip] RUN_DIR MINUTES [key=value overrides...]" >&2
  exit 2
fi
pack=$1 run=$2 minutes=$3
shift 3
export PYTHONPATH=${PYTHONPATH:-src} PYTHONUNBUFFERED=1
if [[ $pack == *.zip ]]; then
  unpacked=$(mktemp -d)
  python3 -m zipfile -e "$pack" "$unpacked"
  pack=$(dirname "$(find "$unpacked" -type d -name train -print -quit)")
fi
rate=${SWISHPAINT_RATE:-}
if [[ -z $rate ]]; then
  probe=$(mktemp -d)
  python3 -m swishpaint train --config configs/anime.yaml device=cuda "data.root=$pack" "out_dir=$probe" \
    steps=150 log_every=50 val_every=100000 sample_every=100000 checkpoint_every=100000 "$@" >/dev/null
  rate=$(python3 -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1]+'/log.jsonl')]; print(max(x.get('img_per_s',0) for x in r))" "$probe")
fi
batch=$(python3 -c "import sys,yaml; print(yaml.safe_load(open('configs/anime.yaml'))['batch_size'])")
for o in "$@"; do case $o in batch_size=*) batch=${o#batch_size=};; esac; done
steps=$(python3 -c "print(int($rate * 60 * $minutes * 0.92 / $batch))")
echo "probe: $rate images/s at batch $batch -> $steps steps in $minutes minutes"
# a run stopped by a signal saves a checkpoint and exits 128 + signal: hand that checkpoint back too, then
# exit with the run's status
status=0
trap 'echo "train_gpu.sh: stop requested; the run saves a checkpoint, which is handed back" >&2' TERM HUP
python3 -m swishpaint train --config configs/anime.yaml device=cuda "data.root=$pack" "out_dir=$run" \
  "steps=$steps" "max_minutes=$minutes" "$@" || status=$?
python3 -c "import sys; from swishpaint.training import checkpoints as C; run = sys.argv[1]; saved = C.list_checkpoints(run)
print('hand-back:', C.write_hand_back(saved[-1], f'{run}/{C.HAND_BACK}') if saved else 'none (no checkpoint)')" "$run"
exit $status
