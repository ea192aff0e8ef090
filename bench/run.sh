#!/usr/bin/env bash
# Runs the Rmlx benchmarks beside OpenBLAS, MLX Python and PyTorch and
# prints one table with the ratios and their targets.
#
# Usage: bash bench/run.sh   (or ./run.sh bench from the repository root)
# Environment:
#   PYTHON           the interpreter with mlx and torch (default .venv/bin/python)
#   BENCH_EPOCHS     training epochs per MLP run; each run reports the median
#                    (default 3)
#   BENCH_ONLY       comma-separated parts to run: matmul, mlp, small, conv
#                    (convolution and max pooling), cnn, rnn (LSTM and GRU),
#                    transformer (2-layer encoder and cached generation)
#                    (default: all)
#   BENCH_CNN_STEPS  training steps per CNN run, scaled to a 468-step epoch
#                    (default 100); MLX Python as installed runs a fifth of
#                    them, as it is about 16 times slower
#   OPENBLAS_LIB     the OpenBLAS preloaded into MLX Python for its second
#                    run (default Debian's
#                    /usr/lib/x86_64-linux-gnu/libopenblas.so.0)
# A competitor that fails to run shows n/a. For the running time of a full
# run, see BENCHMARKS.md.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/bench"
python="${PYTHON:-$root/.venv/bin/python}"
epochs="${BENCH_EPOCHS:-3}"
only="${BENCH_ONLY:-matmul,mlp,small,conv,cnn,rnn,transformer}"
cnn_steps="${BENCH_CNN_STEPS:-100}"
openblas="${OPENBLAS_LIB:-/usr/lib/x86_64-linux-gnu/libopenblas.so.0}"
for part in ${only//,/ }; do
  case "$part" in
    matmul | mlp | small | conv | cnn | rnn | transformer) ;;
    *)
      echo "bench: invalid part '$part' in BENCH_ONLY; expected matmul, mlp, small, conv, cnn, rnn or transformer" >&2
      exit 2
      ;;
  esac
done
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# Runs a command with its output saved to $out/NAME. A failure is reported
# on stderr and leaves the figure empty, so the table shows n/a.
record() {
  local name="$1"
  shift
  local status=0
  "$@" >"$out/$name" 2>"$out/$name.err" || status=$?
  if ((status != 0)); then
    echo "bench: $name failed (exit $status): $(tail -n 3 "$out/$name.err")" >&2
  fi
}

# Prints KEY's value from the line starting with LABEL in $out/NAME.
value() {
  local name="$1" label="$2" key="$3"
  [[ -f "$out/$name" ]] || return 0
  awk -v label="$label" -v key="$key" '
    $1 == label { for (i = 2; i <= NF; i++) if (index($i, key "=") == 1) print substr($i, length(key) + 2) }
  ' "$out/$name"
}

# Prints NUMERATOR / DENOMINATOR to two decimals, or n/a if either is empty.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2f\n", a / b }'
}

# Prints whether RATIO meets the target `<= LIMIT` or `>= LIMIT`.
verdict() {
  awk -v r="$1" -v op="$2" -v limit="$3" 'BEGIN {
    if (r == "n/a") { print "n/a"; exit }
    ok = (op == "<=") ? (r <= limit) : (r >= limit)
    print ok ? "meets" : "misses"
  }'
}

# Runs a command pinned to CORES with BLAS, OpenMP and PyTorch limited to
# THREADS threads.
pinned() {
  local cores="$1" threads="$2"
  shift 2
  OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" \
    RMLX_BENCH_THREADS="$threads" taskset -c "$cores" "$@"
}

# Succeeds if PART is listed in BENCH_ONLY.
part_selected() {
  [[ ",$only," == *",$1,"* ]]
}

# Prints the cores to pin to for a count of 1 or 2: 0, or 0,1.
cpu_list() {
  if [[ $1 == 1 ]]; then echo 0; else echo 0,1; fi
}

# Prints "(1 core)" or "(2 cores)".
cores_label() {
  if [[ $1 == 1 ]]; then echo "(1 core)"; else echo "($1 cores)"; fi
}

# Prints DESCRIPTION as progress on stderr and stores the 1-minute load
# average under NAME, for the summary at the end.
part_loads=""
start_part() {
  part_loads="$part_loads $1 $(cut -d ' ' -f 1 /proc/loadavg),"
  echo "== $1: $2" >&2
}

# The convolution and pooling cases of the conv_pool_* scripts, in table
# order. MLX Python as installed skips conv64 because one forward and
# backward pass of it took 15 to 30 s on the reference BLAS of its wheel
# (on the 2-core machine of BENCHMARKS.md), and runs 3 timed passes of the
# others instead of 10.
conv_cases=(conv28 conv14 conv64 pool28 pool14 pool64)
conv_cases_reference_blas=(conv28 conv14 pool28 pool14 pool64)
declare -A conv_label=(
  [conv28]="conv 3x3 1->32, 128x28x28"
  [conv14]="conv 3x3 32->64, 128x14x14"
  [conv64]="conv 3x3 64->128, 32x64x64"
  [pool28]="max-pool 2, 128x28x28x32"
  [pool14]="max-pool 2, 128x14x14x64"
  [pool64]="max-pool 2, 32x64x64x128"
)
cnn_steps_reference_blas=$(((cnn_steps + 4) / 5))

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -n 1)"
echo "load average before: $(cut -d ' ' -f 1-3 /proc/loadavg)"

if part_selected matmul; then
  start_part matmul "matrix product, 1024x1024 float32, 2 cores"
  if gcc -O2 -I/usr/include/x86_64-linux-gnu/openblas-pthread sgemm.c \
    -o "$out/sgemm_bin" -lopenblas 2>"$out/gcc.err"; then
    record sgemm pinned 0,1 2 "$out/sgemm_bin"
  else
    echo "bench: compiling sgemm.c failed: $(cat "$out/gcc.err")" >&2
  fi
  record matmul_rmlx pinned 0,1 2 Rscript matmul.R
  record matmul_mlx pinned 0,1 2 "$python" matmul.py
fi

if part_selected mlp; then
  for cores in 1 2; do
    cpus=$(cpu_list "$cores")
    start_part "mlp_$cores" "MLP epoch, $cores core(s), $epochs epochs each"
    record "mlp_rmlx_$cores" pinned "$cpus" "$cores" Rscript mlp_rmlx.R "$epochs"
    record "mlp_torch_$cores" pinned "$cpus" "$cores" "$python" mlp_torch.py "$epochs"
    record "mlp_mlx_$cores" pinned "$cpus" "$cores" "$python" mlp_mlx.py "$epochs"
  done
fi

if part_selected small; then
  start_part small "small evaluated op, 1 core"
  record small_rmlx pinned 0 1 Rscript small_op.R
  record small_py pinned 0 1 "$python" small_op.py
fi

if part_selected conv; then
  for cores in 1 2; do
    cpus=$(cpu_list "$cores")
    start_part "conv_$cores" "convolution and max pooling, forward and backward, $cores core(s)"
    record "conv_rmlx_$cores" pinned "$cpus" "$cores" Rscript conv_pool_rmlx.R
    record "conv_rmlx_mlx_ops_$cores" pinned "$cpus" "$cores" \
      env RMLX_CUSTOM_KERNELS=0 Rscript conv_pool_rmlx.R
    record "conv_mlx_openblas_$cores" pinned "$cpus" "$cores" \
      env LD_PRELOAD="$openblas" "$python" conv_pool_mlx.py
    record "conv_mlx_$cores" pinned "$cpus" "$cores" \
      "$python" conv_pool_mlx.py 3 "${conv_cases_reference_blas[@]}"
    record "conv_torch_$cores" pinned "$cpus" "$cores" "$python" conv_pool_torch.py
  done
fi

if part_selected cnn; then
  for cores in 1 2; do
    cpus=$(cpu_list "$cores")
    start_part "cnn_$cores" "CNN epoch, $cores core(s), $cnn_steps steps ($cnn_steps_reference_blas for MLX Python as installed)"
    record "cnn_rmlx_$cores" pinned "$cpus" "$cores" Rscript cnn_rmlx.R "$cnn_steps"
    record "cnn_torch_$cores" pinned "$cpus" "$cores" "$python" cnn_torch.py "$cnn_steps"
    record "cnn_mlx_openblas_$cores" pinned "$cpus" "$cores" \
      env LD_PRELOAD="$openblas" "$python" cnn_mlx.py "$cnn_steps"
    record "cnn_mlx_$cores" pinned "$cpus" "$cores" \
      "$python" cnn_mlx.py "$cnn_steps_reference_blas"
  done
fi

or_na() { if [[ -n "$1" ]]; then echo "$1"; else echo "n/a"; fi; }

if part_selected matmul || part_selected mlp || part_selected small; then
  echo
  echo "| benchmark | Rmlx | OpenBLAS | MLX Python | PyTorch | ratio | target | result |"
  echo "| --- | ---: | ---: | ---: | ---: | --- | --- | --- |"
fi

if part_selected matmul; then
  gf_rmlx=$(value matmul_rmlx rmlx gflops)
  gf_blas=$(value sgemm openblas gflops)
  gf_mlx=$(value matmul_mlx mlx_python gflops)
  r=$(ratio "$gf_rmlx" "$gf_blas")
  echo "| matmul 1024 GFLOP/s (2 cores) | $(or_na "$gf_rmlx") | $(or_na "$gf_blas") | $(or_na "$gf_mlx") | - | Rmlx/OpenBLAS $r | >= 0.9 | $(verdict "$r" '>=' 0.9) |"
fi

if part_selected mlp; then
  for cores in 1 2; do
    t_rmlx=$(value "mlp_rmlx_$cores" rmlx epoch_s)
    t_torch=$(value "mlp_torch_$cores" pytorch epoch_s)
    t_mlx=$(value "mlp_mlx_$cores" mlx_python epoch_s)
    r_torch=$(ratio "$t_rmlx" "$t_torch")
    r_mlx=$(ratio "$t_rmlx" "$t_mlx")
    row="| MLP epoch s $(cores_label "$cores") | $(or_na "$t_rmlx") | - | $(or_na "$t_mlx") | $(or_na "$t_torch")"
    echo "$row | Rmlx/PyTorch $r_torch | <= 1.0 | $(verdict "$r_torch" '<=' 1.0) |"
    echo "$row | Rmlx/MLX Python $r_mlx | <= 0.9 | $(verdict "$r_mlx" '<=' 0.9) |"
  done
fi

if part_selected small; then
  us_rmlx=$(value small_rmlx rmlx op_us)
  us_lazy=$(value small_rmlx rmlx_lazy op_us)
  us_mlx=$(value small_py mlx_python op_us)
  us_torch=$(value small_py pytorch op_us)
  r=$(ratio "$us_rmlx" "$us_torch")
  echo "| x + y, 10 floats, us per evaluated op (1 core) | $(or_na "$us_rmlx") | - | $(or_na "$us_mlx") | $(or_na "$us_torch") | Rmlx/PyTorch $r | <= 2.0 | $(verdict "$r" '<=' 2.0) |"
  echo "| x + y without eval, us per lazy op (1 core) | $(or_na "$us_lazy") | - | - | - | - | - | - |"
fi

if part_selected conv || part_selected cnn; then
  # Rmlx runs MLX on OpenBLAS, so its ratio to MLX Python is taken against
  # MLX Python with OpenBLAS preloaded, the same BLAS.
  echo
  echo "MLX Python runs twice: with OpenBLAS preloaded ($openblas) and as installed (the wheel's reference BLAS)."
  echo "Rmlx, MLX ops: the same script with mlx_custom_kernels(FALSE)."
  echo
  echo "| benchmark | Rmlx | Rmlx, MLX ops | MLX Python, OpenBLAS | MLX Python, as installed | PyTorch | Rmlx/PyTorch | Rmlx/MLX Python (OpenBLAS) | target | result |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
fi

if part_selected conv; then
  for cores in 1 2; do
    for case in "${conv_cases[@]}"; do
      ms_rmlx=$(value "conv_rmlx_$cores" "$case" ms)
      ms_mlx_ops=$(value "conv_rmlx_mlx_ops_$cores" "$case" ms)
      ms_openblas=$(value "conv_mlx_openblas_$cores" "$case" ms)
      ms_mlx=$(value "conv_mlx_$cores" "$case" ms)
      if [[ $case == conv64 ]]; then ms_mlx="not run"; fi
      ms_torch=$(value "conv_torch_$cores" "$case" ms)
      echo "| ${conv_label[$case]}, fwd+bwd ms $(cores_label "$cores") | $(or_na "$ms_rmlx") | $(or_na "$ms_mlx_ops") | $(or_na "$ms_openblas") | $(or_na "$ms_mlx") | $(or_na "$ms_torch") | $(ratio "$ms_rmlx" "$ms_torch") | $(ratio "$ms_rmlx" "$ms_openblas") | - | - |"
    done
  done
fi

if part_selected cnn; then
  for cores in 1 2; do
    t_rmlx=$(value "cnn_rmlx_$cores" rmlx epoch_s)
    t_openblas=$(value "cnn_mlx_openblas_$cores" mlx_python epoch_s)
    t_mlx=$(value "cnn_mlx_$cores" mlx_python epoch_s)
    t_torch=$(value "cnn_torch_$cores" pytorch epoch_s)
    r_torch=$(ratio "$t_rmlx" "$t_torch")
    echo "| CNN epoch s $(cores_label "$cores") | $(or_na "$t_rmlx") | - | $(or_na "$t_openblas") | $(or_na "$t_mlx") | $(or_na "$t_torch") | $r_torch | $(ratio "$t_rmlx" "$t_openblas") | Rmlx/PyTorch <= 1.0 | $(verdict "$r_torch" '<=' 1.0) |"
  done
fi

echo
if part_selected conv; then
  for cores in 1 2; do
    line="PyTorch channels_last, fwd+bwd ms $(cores_label "$cores"):"
    for case in "${conv_cases[@]}"; do
      line="$line $case $(or_na "$(value "conv_torch_$cores" "${case}_channels_last" ms)")"
    done
    echo "$line"
  done
fi
if part_selected mlp; then
  echo "final training loss (last epoch mean), 1 core: Rmlx $(or_na "$(value mlp_rmlx_1 rmlx loss)"), MLX Python $(or_na "$(value mlp_mlx_1 mlx_python loss)"), PyTorch $(or_na "$(value mlp_torch_1 pytorch loss)")"
fi
if part_selected cnn; then
  echo "CNN mean training loss over the timed steps, 1 core: Rmlx $(or_na "$(value cnn_rmlx_1 rmlx loss)"), MLX Python with OpenBLAS $(or_na "$(value cnn_mlx_openblas_1 mlx_python loss)") ($cnn_steps steps), MLX Python as installed $(or_na "$(value cnn_mlx_1 mlx_python loss)") ($cnn_steps_reference_blas steps), PyTorch $(or_na "$(value cnn_torch_1 pytorch loss)")"
fi
echo "load average (1 minute) at the start of each part:${part_loads%,}"
if part_selected rnn; then
  # LSTM and GRU, forward plus backward.
  start_part rnn "LSTM and GRU forward plus backward, 1 and 2 cores"
  for cores in 1 2; do
    cpus=$(cpu_list "$cores")
    record "rnn_rmlx_$cores" pinned "$cpus" "$cores" Rscript rnn_rmlx.R
    record "rnn_torch_$cores" pinned "$cpus" "$cores" "$python" rnn_torch.py
    record "rnn_mlx_$cores" pinned "$cpus" "$cores" "$python" rnn_mlx.py 10 mlx_python
    record "rnn_mlx_openblas_$cores" pinned "$cpus" "$cores" \
      env LD_PRELOAD="$openblas" \
      "$python" rnn_mlx.py 10 mlx_openblas
  done
  echo
  echo "| input 64, hidden 256, 64 steps, batch 32 | Rmlx ms | MLX Python ms | MLX Python + OpenBLAS ms | PyTorch ms | Rmlx/PyTorch | target | result |"
  echo "| --- | ---: | ---: | ---: | ---: | --- | --- | --- |"
  for cores in 1 2; do
    for layer in lstm gru; do
      t_rmlx=$(value "rnn_rmlx_$cores" rmlx "${layer}_ms")
      t_mlx=$(value "rnn_mlx_$cores" mlx_python "${layer}_ms")
      t_blas=$(value "rnn_mlx_openblas_$cores" mlx_openblas "${layer}_ms")
      t_torch=$(value "rnn_torch_$cores" pytorch "${layer}_ms")
      r=$(ratio "$t_rmlx" "$t_torch")
      echo "| $layer forward + backward ($cores core$([[ $cores == 2 ]] && echo s)) | $(or_na "$t_rmlx") | $(or_na "$t_mlx") | $(or_na "$t_blas") | $(or_na "$t_torch") | $r | <= 1.0 | $(verdict "$r" '<=' 1.0) |"
    done
  done
fi
if part_selected transformer; then
  start_part transformer "transformer encoder forward plus backward, 1 and 2 cores"
  for cores in 1 2; do
    cpus=$(cpu_list "$cores")
    record "tf_rmlx_$cores" pinned "$cpus" "$cores" Rscript transformer_rmlx.R
    record "tf_torch_$cores" pinned "$cpus" "$cores" "$python" transformer_torch.py
    record "tf_mlx_openblas_$cores" pinned "$cpus" "$cores" \
      env LD_PRELOAD="$openblas" "$python" transformer_mlx.py 10 mlx_openblas
    record "tf_mlx_$cores" pinned "$cpus" "$cores" "$python" transformer_mlx.py 3 mlx_python
  done
  echo
  echo "| 2-layer encoder, d 256, 4 heads, mlp 1024, seq 128, batch 16 | Rmlx ms | MLX Python, OpenBLAS ms | MLX Python, as installed ms | PyTorch ms | Rmlx/PyTorch | MLX Python (OpenBLAS)/PyTorch | target | result |"
  echo "| --- | ---: | ---: | ---: | ---: | --- | --- | --- | --- |"
  for cores in 1 2; do
    t_rmlx=$(value "tf_rmlx_$cores" rmlx encoder_ms)
    t_blas=$(value "tf_mlx_openblas_$cores" mlx_openblas encoder_ms)
    t_mlx=$(value "tf_mlx_$cores" mlx_python encoder_ms)
    t_torch=$(value "tf_torch_$cores" pytorch encoder_ms)
    r=$(ratio "$t_rmlx" "$t_torch")
    r_mlx=$(ratio "$t_blas" "$t_torch")
    echo "| forward + backward $(cores_label "$cores") | $(or_na "$t_rmlx") | $(or_na "$t_blas") | $(or_na "$t_mlx") | $(or_na "$t_torch") | $r | $r_mlx | <= 1.0 | $(verdict "$r" '<=' 1.0) |"
  done
  echo
  echo "| generation, 128 positions, batch 1 | cached positions/s | recomputed positions/s | speedup |"
  echo "| --- | ---: | ---: | ---: |"
  for cores in 1 2; do
    cached=$(value "tf_rmlx_$cores" rmlx cached_tok_s)
    recomputed=$(value "tf_rmlx_$cores" rmlx recompute_tok_s)
    echo "| Rmlx $(cores_label "$cores") | $(or_na "$cached") | $(or_na "$recomputed") | $(ratio "$cached" "$recomputed") |"
  done
fi
echo "load average after: $(cut -d ' ' -f 1-3 /proc/loadavg)"
