# Trainyard worker on NVIDIA GPUs through @tensorflow/tfjs-node-gpu (libtensorflow 2.x needs
# CUDA 11.8 and cuDNN 8). One slot per visible GPU; run with `--gpus all`.
FROM nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl gnupg \
    && curl -fsSL https://deb.nodesource.com/setup_20.x | bash - \
    && apt-get install -y --no-install-recommends nodejs \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY apps ./apps
COPY packages ./packages
COPY prisma ./prisma
COPY prisma.config.ts ./
COPY scripts ./scripts
RUN npm ci --omit=dev --no-audit --no-fund \
    && npm cache clean --force
ENV NODE_ENV=production TRAINYARD_BACKEND=tensorflow TRAINYARD_DATA_DIR=/data
VOLUME ["/data"]
CMD ["node", "apps/cli/bin/trainyard.mjs", "worker"]
