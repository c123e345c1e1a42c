# Trainyard worker on NVIDIA GPUs, one slot per visible GPU; run with `--gpus all` (compose and
# k8s/worker-gpu.yaml ask for the GPUs and the driver capabilities below). Two GPU paths:
#
# - tensorflow: @tensorflow/tfjs-node-gpu 4.22 runs libtensorflow 2.9.1, which its install script
#   downloads at `npm ci` (so the build needs internet). That build is made for CUDA 11.2 and
#   cuDNN 8.1, the pairing tfjs-node's README documents for its GPU package (with an NVIDIA driver
#   > 450.x). The base image carries exactly that: the CUDA 11.2 runtime libraries and cuDNN 8.1
#   (libcudnn8 8.1.1 for CUDA 11.2). libtensorflow 2.9 loads CUDA 11 and cuDNN 8 libraries by
#   their sonames (libcudart.so.11.0, libcudnn.so.8): CUDA 12 cannot serve, a later 11.x might,
#   but 11.2 + 8.1 is what it was built and documented for.
# - webgpu: Dawn (npm `webgpu`, prebuilt, no download) on NVIDIA's Vulkan driver. The image has
#   the Vulkan loader (libvulkan1), the libraries NVIDIA's Vulkan library links against, and the
#   ICD file that tells the loader where the driver is (libGLX_nvidia.so.0). The driver itself
#   comes from the host, mounted by the NVIDIA container toolkit only when
#   NVIDIA_DRIVER_CAPABILITIES includes `graphics` (set below; `compute,utility` alone give CUDA
#   but no Vulkan). Needs no particular CUDA: the path for GPUs newer than CUDA 11.2 knows.
#
# TRAINYARD_BACKEND=auto takes tensorflow when libtensorflow loads on the slot's GPU, else webgpu
# on a hardware adapter, else wasm; set it to `tensorflow` or `webgpu` to insist on one. Check a
# container with `trainyard doctor` and scripts/gpu-check.sh. Build from the repository root:
#   docker build -f docker/worker-gpu.Dockerfile -t trainyard-worker-gpu:0.1.0 .
FROM node:22.12.0-bookworm-slim AS node
# Debian's Fashion-MNIST package (the Ubuntu 20.04 base has none), copied into the final image below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends dataset-fashion-mnist \
    && rm -rf /var/lib/apt/lists/*

FROM nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04
# Node 22 LTS from the official image (its binary needs glibc >= 2.28; Ubuntu 20.04 has 2.31).
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && node --version
# Vulkan for Dawn: the loader, and what libGLX_nvidia.so.0 (NVIDIA's Vulkan ICD, from the host) needs.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libvulkan1 libglvnd0 libx11-6 libxext6 \
    && rm -rf /var/lib/apt/lists/*
COPY docker/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json
COPY --from=node /usr/share/datasets/fashion-mnist /usr/share/datasets/fashion-mnist
# The processes run as uid 1000 (`trainyard`), the uid of `node` in the API and CPU images, so that the
# shared data volume (created owned by 1000 from /data here) is writable and readable by all of them.
RUN groupadd --gid 1000 trainyard \
    && useradd --uid 1000 --gid 1000 --create-home --shell /usr/sbin/nologin trainyard \
    && mkdir -p /data \
    && chown trainyard:trainyard /data
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY apps ./apps
COPY packages ./packages
COPY prisma ./prisma
COPY prisma.config.ts ./
COPY scripts ./scripts
COPY bench ./bench
COPY docker/healthcheck.mjs ./docker/healthcheck.mjs
RUN npm ci --omit=dev --no-audit --no-fund \
    && npm cache clean --force
ENV NODE_ENV=production \
    TRAINYARD_BACKEND=auto \
    TRAINYARD_DATA_DIR=/data \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics \
    XDG_RUNTIME_DIR=/tmp \
    PATH=/app/node_modules/.bin:$PATH
VOLUME ["/data"]
USER trainyard
# Healthy while this container's worker heartbeats (every 3 s) as active in PostgreSQL.
HEALTHCHECK --interval=15s --timeout=10s --start-period=120s CMD ["node", "docker/healthcheck.mjs", "worker"]
CMD ["trainyard", "worker"]
