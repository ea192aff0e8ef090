#!/usr/bin/env bash
# Runs the Rmlx benchmarks beside OpenBLAS, MLX Python and PyTorch and
# prints one table with the ratios and their targets.
#
# Usage: bash bench/run.sh   (or ./run.sh bench from the repository root)
# Environment:
#   PYTHON        the interpreter with mlx and torch (default .venv/bin/python)
#   BENCH_EPOCHS  training epochs per MLP run; each run reports the median
#                 (default 3)
# A full run took 2 min 49 s on a 2-core AMD EPYC, most of it in MLX
# Python's training epochs. A competitor that fails to run shows n/a.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/bench"
python="${PYTHON:-$root/.venv/bin/python}"
epochs="${BENCH_EPOCHS:-3}"
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

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -n 1)"
echo "load average before: $(cut -d ' ' -f 1-3 /proc/loadavg)"

echo "== 1. matrix product, 1024x1024 float32, 2 cores" >&2
if gcc -O2 -I/usr/include/x86_64-linux-gnu/openblas-pthread sgemm.c \
  -o "$out/sgemm_bin" -lopenblas 2>"$out/gcc.err"; then
  record sgemm pinned 0,1 2 "$out/sgemm_bin"
else
  echo "bench: compiling sgemm.c failed: $(cat "$out/gcc.err")" >&2
fi
record matmul_rmlx pinned 0,1 2 Rscript matmul.R
record matmul_mlx pinned 0,1 2 "$python" matmul.py

for cores in 1 2; do
  cpus=$([[ $cores == 1 ]] && echo 0 || echo 0,1)
  echo "== 2. MLP epoch, $cores core(s), $epochs epochs each" >&2
  record "mlp_rmlx_$cores" pinned "$cpus" "$cores" Rscript mlp_rmlx.R "$epochs"
  record "mlp_torch_$cores" pinned "$cpus" "$cores" "$python" mlp_torch.py "$epochs"
  record "mlp_mlx_$cores" pinned "$cpus" "$cores" "$python" mlp_mlx.py "$epochs"
done

echo "== 3. small evaluated op, 1 core" >&2
record small_rmlx pinned 0 1 Rscript small_op.R
record small_py pinned 0 1 "$python" small_op.py

or_na() { if [[ -n "$1" ]]; then echo "$1"; else echo "n/a"; fi; }

gf_rmlx=$(value matmul_rmlx rmlx gflops)
gf_blas=$(value sgemm openblas gflops)
gf_mlx=$(value matmul_mlx mlx_python gflops)
r=$(ratio "$gf_rmlx" "$gf_blas")

echo
echo "| benchmark | Rmlx | OpenBLAS | MLX Python | PyTorch | ratio | target | result |"
echo "| --- | ---: | ---: | ---: | ---: | --- | --- | --- |"
echo "| matmul 1024 GFLOP/s (2 cores) | $(or_na "$gf_rmlx") | $(or_na "$gf_blas") | $(or_na "$gf_mlx") | - | Rmlx/OpenBLAS $r | >= 0.9 | $(verdict "$r" '>=' 0.9) |"

for cores in 1 2; do
  t_rmlx=$(value "mlp_rmlx_$cores" rmlx epoch_s)
  t_torch=$(value "mlp_torch_$cores" pytorch epoch_s)
  t_mlx=$(value "mlp_mlx_$cores" mlx_python epoch_s)
  r_torch=$(ratio "$t_rmlx" "$t_torch")
  r_mlx=$(ratio "$t_rmlx" "$t_mlx")
  row="| MLP epoch s ($cores core$([[ $cores == 2 ]] && echo s)) | $(or_na "$t_rmlx") | - | $(or_na "$t_mlx") | $(or_na "$t_torch")"
  echo "$row | Rmlx/PyTorch $r_torch | <= 1.0 | $(verdict "$r_torch" '<=' 1.0) |"
  echo "$row | Rmlx/MLX Python $r_mlx | <= 0.9 | $(verdict "$r_mlx" '<=' 0.9) |"
done

us_rmlx=$(value small_rmlx rmlx op_us)
us_lazy=$(value small_rmlx rmlx_lazy op_us)
us_mlx=$(value small_py mlx_python op_us)
us_torch=$(value small_py pytorch op_us)
r=$(ratio "$us_rmlx" "$us_torch")
echo "| x + y, 10 floats, us per evaluated op (1 core) | $(or_na "$us_rmlx") | - | $(or_na "$us_mlx") | $(or_na "$us_torch") | Rmlx/PyTorch $r | <= 2.0 | $(verdict "$r" '<=' 2.0) |"
echo "| x + y without eval, us per lazy op (1 core) | $(or_na "$us_lazy") | - | - | - | - | - | - |"
echo
echo "final training loss (last epoch mean), 1 core: Rmlx $(or_na "$(value mlp_rmlx_1 rmlx loss)"), MLX Python $(or_na "$(value mlp_mlx_1 mlx_python loss)"), PyTorch $(or_na "$(value mlp_torch_1 pytorch loss)")"
# -- LSTM and GRU: forward plus backward, 1 and 2 cores (self-contained) --
echo "== 4. LSTM and GRU forward plus backward, 1 and 2 cores" >&2
for cores in 1 2; do
  cpus=$([[ $cores == 1 ]] && echo 0 || echo 0,1)
  record "rnn_rmlx_$cores" pinned "$cpus" "$cores" Rscript rnn_rmlx.R
  record "rnn_torch_$cores" pinned "$cpus" "$cores" "$python" rnn_torch.py
  record "rnn_mlx_$cores" pinned "$cpus" "$cores" "$python" rnn_mlx.py 10 mlx_python
  record "rnn_mlx_openblas_$cores" pinned "$cpus" "$cores" \
    env LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libopenblas.so.0 \
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
# -- end of LSTM and GRU --
echo "load average after: $(cut -d ' ' -f 1-3 /proc/loadavg)"
