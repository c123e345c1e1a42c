#!/usr/bin/env bash
# What Trainyard's GPU paths do on this machine, in at most 5 minutes: run it as it is, from a
# checkout after `npm ci` (bash scripts/gpu-check.sh, or npm run gpu-check).
#
#   1. the GPUs: nvidia-smi, and the WebGPU adapters Dawn sees over Vulkan (scripts/webgpuAdapters.mjs)
#   2. the webgpu kernel check: packages/engine/test/webgpuKernels.test.ts with vitest
#   3. training throughput, one table (bench/trainThroughput.ts): LeNet and ResNet-18 at 32×32
#      and 224×224, the engine's training step on each GPU backend that is there (webgpu; tensorflow
#      through tfjs-node-gpu when it is installed and nvidia-smi sees a GPU) and on wasm (every core),
#      and PyTorch on CUDA where torch.cuda.is_available(), else on the CPU; ratios TF.js/PyTorch.
#
# On a machine without a GPU, webgpu runs on Mesa's software adapter (llvmpipe): correct and slow,
# so the rows are bounded in time and the 224×224 batch is small there (the output says so).
# GPU_CHECK_SECONDS changes the 300 s budget; TRAINYARD_WEBGPU_ADAPTER picks a Dawn adapter.
# Exit code: 0 when each part ran and passed, 1 otherwise.
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 1
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

budget="${GPU_CHECK_SECONDS:-300}"
started=$SECONDS
failures=()
left() { echo $((budget - (SECONDS - started))); }
section() { printf '\n== %s (%ss left) ==\n' "$1" "$(left)"; }
min() { if [ "$1" -lt "$2" ]; then echo "$1"; else echo "$2"; fi; }

echo "# Trainyard GPU check, $(date -u +%FT%TZ), $(uname -srm), Node $(node --version), $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg)"

section "GPUs (nvidia-smi)"
nvidia=0
if command -v nvidia-smi >/dev/null 2>&1; then
  if timeout 30 nvidia-smi --query-gpu=index,name,driver_version,memory.total,compute_cap --format=csv; then
    nvidia=1
  else
    echo "nvidia-smi is there but failed (driver not loaded, or no GPU given to this container)"
  fi
else
  echo "nvidia-smi: not found (no NVIDIA driver; an AMD or Intel GPU shows up as a Vulkan adapter below)"
fi

section "Vulkan adapters Dawn sees (webgpu)"
adapters="$(timeout 60 node scripts/webgpuAdapters.mjs 2>/dev/null)"
webgpu=$?
echo "$adapters"
hardware=0
if [ "$webgpu" -eq 0 ] && grep -q -- "— hardware" <<<"$adapters"; then hardware=1; fi
if [ "$webgpu" -ne 0 ]; then
  failures+=("Dawn has no adapter")
elif [ "$hardware" -eq 0 ]; then
  echo "only a software adapter: webgpu below runs on the CPU (llvmpipe), correct but slow; on a GPU machine this means no Vulkan driver (in a container: NVIDIA_DRIVER_CAPABILITIES must include graphics)"
fi
if command -v vulkaninfo >/dev/null 2>&1; then
  timeout 20 vulkaninfo --summary 2>/dev/null | grep -E "deviceName|deviceType|driverName|driverInfo|apiVersion" || true
fi

section "webgpu kernel check (packages/engine/test/webgpuKernels.test.ts)"
kernel_test=packages/engine/test/webgpuKernels.test.ts
if [ "$webgpu" -ne 0 ]; then
  echo "skipped: no adapter"
elif [ ! -f "$kernel_test" ]; then
  echo "missing: $kernel_test is not in this checkout"
  failures+=("kernel check missing")
elif [ ! -x node_modules/.bin/vitest ]; then
  echo "skipped: vitest is not installed (npm ci without --omit=dev)"
  failures+=("kernel check not run")
else
  # At most 2 minutes, and never so long that the throughput table gets under 2 minutes.
  seconds=$(min 120 $(($(left) - 120)))
  if [ "$seconds" -lt 30 ]; then seconds=30; fi
  log="$(mktemp)"
  NO_COLOR=1 timeout "$seconds" node_modules/.bin/vitest run "$kernel_test" >"$log" 2>&1
  status=$?
  # The summary, and what failed (the whole log when it failed).
  grep -E "^ *(Test Files|Tests|Duration) " "$log"
  if [ "$status" -ne 0 ]; then
    [ "$status" -eq 124 ] && echo "stopped after ${seconds}s"
    grep -v -E "artificially reduced|^\s*$" "$log" | grep -E -A12 "FAIL|×|Error" | head -80
    failures+=("kernel check (exit $status)")
  fi
  rm -f "$log"
fi

section "Training throughput"
backends=()
if [ "$webgpu" -eq 0 ]; then backends+=(webgpu); fi
if [ "$nvidia" -eq 1 ] && [ -f node_modules/@tensorflow/tfjs-node-gpu/package.json ]; then
  backends+=(tensorflow)
  # tensorflow rows load tfjs-node-gpu (a GPU slot) on the first GPU, as a worker's slot 0 does.
  export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES:-0}"
elif [ "$nvidia" -eq 1 ]; then
  echo "tensorflow: @tensorflow/tfjs-node-gpu is not installed (its install downloads libtensorflow; needs CUDA 11.2 + cuDNN 8.1): no tensorflow rows"
fi
backends+=(wasm)
cores=$(min 4 "$(nproc)")
networks=lenet,resnet18,resnet18-224
bench_seconds=$(($(left) - 5))
if [ "$bench_seconds" -lt 60 ]; then bench_seconds=60; fi
# Measured steps (and warm-up after the first step) stop after row_seconds; the wasm and PyTorch
# rows are given row_seconds + 15 s each, the GPU rows share the rest of the time (--deadline), and
# a row that has not finished by its share is stopped (a note under the table says so).
row_seconds=6
if [ "$hardware" -eq 1 ] || [ "$nvidia" -eq 1 ]; then
  batches="lenet=256,resnet18=64,resnet18-224=8"
else
  # A software adapter (the CPU) takes minutes for a ResNet-18 224×224 step at batch 8: smaller
  # batches, the same for every row of a network, so the ratios still compare like with like.
  batches="lenet=64,resnet18=16,resnet18-224=2"
  echo "webgpu on a software adapter: smaller batches ($batches; on a GPU lenet=256,resnet18=64,resnet18-224=8)"
fi
echo "backends: ${backends[*]} (+ PyTorch); steps measured for ${row_seconds}s per row, all rows within $((bench_seconds - 5))s"
timeout "$bench_seconds" node_modules/.bin/tsx bench/trainThroughput.ts \
  --backends "$(IFS=,; echo "${backends[*]}")" --networks "$networks" --engine-only --threads none --replicas "$cores" \
  --torch-threads 0 --row-seconds "$row_seconds" --deadline "$((bench_seconds - 5))" --batch "$batches"
status=$?
if [ "$status" -ne 0 ]; then
  if [ "$status" -eq 124 ]; then
    echo "the throughput run did not finish within ${bench_seconds}s: the rows above are what ran"
    failures+=("throughput run")
  else
    failures+=("throughput rows without a result")
  fi
fi

echo
if [ "${#failures[@]}" -eq 0 ]; then
  echo "gpu-check: done in $((SECONDS - started))s"
  exit 0
fi
echo "gpu-check: done in $((SECONDS - started))s; failed: $(IFS=';'; echo "${failures[*]}")"
exit 1
