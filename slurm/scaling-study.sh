#!/usr/bin/env bash
# scaling-study.sh: submit one pardit.sbatch job per point of the matrix
#   node counts x ranks per node x parallel configurations x image sizes
# into one results folder; with --wait, wait for them and build the report
# (perf/scaling/report.py: table + plots). See docs/running-on-slurm.md.
#
#   slurm/scaling-study.sh --nodes "1 2 4 8" --ranks-per-node 8 --gpus \
#       --parallel "dp u8 u4r dp2u4" --sizes "1024 2048" configs/runs/flux-dev-1024.toml
#
# Parallel configurations name mesh axes as pardit's `mesh` does: dp, cfg, pf (PipeFusion),
# r (Ring), u (Ulysses), each with a degree; one axis without a degree takes what is left of
# the world size (dp when none is open). "dp" = pure data parallel, "u2" = Ulysses 2 x dp rest,
# "u2r" = Ulysses 2 x Ring rest, "cfg2u" = CFG 2 x Ulysses rest. Points whose world size the
# fixed degrees do not divide are skipped (and listed).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; cat <<'U'
Options:
  --nodes "N..."           node counts (default "1 2")
  --ranks-per-node "R..."  ranks per node (default "1")
  --parallel "SPEC..."     parallel configurations (default "dp")
  --sizes "PX..."          square image sizes in pixels (default: the config's)
  --gpus                   request one GPU per rank (--gpus-per-node=R)
  --serial                 one job at a time (--dependency=singleton on one job name), so jobs
                           sharing nodes or a switch do not disturb each other's timings
  --results DIR            results folder (default scaling-YYYYmmdd-HHMMSS)
  --sbatch "ARGS"          extra sbatch options for every job (partition, account, time)
  --wait                   wait for all jobs, then write the report into DIR/report
  --dry-run                print the sbatch commands only
  -- PARDIT_OPTIONS        passed to every `pardit run` (e.g. -- --steps 4 --device cpu)
U
}
nodes="1 2"; rpns="1"; parallel="dp"; sizes=""; gpus=0; serial=0; sbatch_args=""; wait=0; dry=0
results=scaling-$(date +%Y%m%d-%H%M%S)
config=""; pardit_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes=$2; shift ;;
    --ranks-per-node) rpns=$2; shift ;;
    --parallel) parallel=$2; shift ;;
    --sizes) sizes=$2; shift ;;
    --gpus) gpus=1 ;;
    --serial) serial=1 ;;
    --results) results=$2; shift ;;
    --sbatch) sbatch_args=$2; shift ;;
    --wait) wait=1 ;;
    --dry-run) dry=1 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; pardit_args=("$@"); break ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) [ -z "$config" ] || { echo "one config only (got $config and $1)" >&2; exit 2; }; config=$1 ;;
  esac
  shift
done
[ -n "$config" ] && [ -f "$config" ] || { echo "usage: $0 [options] CONFIG.toml [-- pardit options]; see --help" >&2; exit 2; }

# degrees SPEC WORLD -> "--dp-degree D --cfg-degree C ..." or nothing when WORLD does not fit.
declare -A FLAG=([dp]=--dp-degree [cfg]=--cfg-degree [pf]=--pipefusion-degree [r]=--ring-degree [u]=--ulysses-degree)
degrees() {
  local spec=$1 world=$2 rest fixed=1 open="" dp_fixed="" axis deg
  declare -A deg_of=([dp]=1 [cfg]=1 [pf]=1 [r]=1 [u]=1)   # all explicit: the config may set others
  rest=$spec
  while [ -n "$rest" ]; do
    [[ "$rest" =~ ^(dp|cfg|pf|u|r)([0-9]*)(.*)$ ]] || { echo "bad parallel spec '$spec' (axes: dp cfg pf r u)" >&2; return 2; }
    axis=${BASH_REMATCH[1]}; deg=${BASH_REMATCH[2]}; rest=${BASH_REMATCH[3]}
    if [ -z "$deg" ]; then
      [ -z "$open" ] || { echo "bad parallel spec '$spec': two axes without degree" >&2; return 2; }
      open=$axis
    else
      deg_of[$axis]=$deg; fixed=$((fixed * deg)); [ "$axis" = dp ] && dp_fixed=1
    fi
  done
  [ -n "$open" ] || [ -n "$dp_fixed" ] || open=dp
  if [ -n "$open" ]; then
    [ $((world % fixed)) = 0 ] || return 1
    deg_of[$open]=$((world / fixed))
  else
    [ "$fixed" = "$world" ] || return 1
  fi
  for axis in dp cfg pf r u; do printf '%s %s ' "${FLAG[$axis]}" "${deg_of[$axis]}"; done
}
for spec in $parallel; do degrees "$spec" 1 >/dev/null || [ $? = 1 ] || exit 2; done   # syntax check first

manifest=$results/jobs.tsv
if [ "$dry" = 0 ]; then
  mkdir -p "$results"
  [ -s "$manifest" ] || printf 'job_id\tnodes\tranks_per_node\tparallel\tsize_px\th5\n' > "$manifest"
fi
jobs=(); skipped=()
for size in ${sizes:-config}; do
  for n in $nodes; do
    for r in $rpns; do
      world=$((n * r))
      for spec in $parallel; do
        if ! deg=$(degrees "$spec" "$world"); then skipped+=("$spec@${n}x$r"); continue; fi   # same for every size
        name=${n}n${r}r-$spec; size_args=()
        [ "$size" = config ] || { name=${size}px-$name; size_args=(--height "$size" --width "$size"); }
        cmd=(sbatch --parsable -N "$n" --ntasks-per-node="$r" --output="$results/$name-%j.out")
        if [ "$serial" = 1 ]; then cmd+=(--job-name="pardit-study-${results##*/}" --dependency=singleton)
        else cmd+=(--job-name="pardit-$name"); fi
        [ "$gpus" = 1 ] && cmd+=(--gpus-per-node="$r")
        # shellcheck disable=SC2206  # the user's sbatch options split on spaces on purpose
        cmd+=($sbatch_args "$HERE/pardit.sbatch" "$config" $deg "${size_args[@]}"
              "${pardit_args[@]}" --out "$results/$name.h5" --overwrite)
        if [ "$dry" = 1 ]; then echo "${cmd[*]}"; continue; fi
        jid=$("${cmd[@]}"); jid=${jid%%;*}
        jobs+=("$jid")
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$jid" "$n" "$r" "$spec" "$size" "$results/$name.h5" >> "$manifest"
        echo "submitted $jid  $name"
      done
    done
  done
done
[ ${#skipped[@]} = 0 ] || echo "skipped (world size not divisible): $(printf '%s\n' "${skipped[@]}" | sort -u | xargs)"
[ "$dry" = 1 ] && exit 0
echo "${#jobs[@]} job(s) in $results/ (manifest $manifest)"
[ "$wait" = 1 ] || { echo "when they are done: python3 $HERE/../perf/scaling/report.py $results"; exit 0; }
rc=0
"$HERE/wait-jobs.sh" "${jobs[@]}" || rc=$?
python3 "$HERE/../perf/scaling/report.py" "$results" || { [ "$rc" != 0 ] || rc=1; }
exit "$rc"
