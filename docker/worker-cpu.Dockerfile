# Trainyard worker on CPU cores: TF.js wasm backend with Trainyard's kernels, or
# @tensorflow/tfjs-node when its install can download libtensorflow (it can at image build).
#   docker build -f docker/worker-cpu.Dockerfile -t trainyard-worker-cpu:0.1.0 .
FROM node:22.12.0-bookworm-slim
# Built-in Fashion-MNIST for the jobs that train on it, and the uid-1000 data folder (uploaded data sets,
# written by the API) that a named volume inherits on first mount.
RUN apt-get update \
    && apt-get install -y --no-install-recommends dataset-fashion-mnist \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data \
    && chown node:node /data
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY apps ./apps
COPY packages ./packages
COPY prisma ./prisma
COPY prisma.config.ts ./
COPY scripts ./scripts
COPY docker/healthcheck.mjs ./docker/healthcheck.mjs
RUN npm ci --omit=dev --no-audit --no-fund \
    && npm cache clean --force
ENV NODE_ENV=production \
    TRAINYARD_BACKEND=auto \
    TRAINYARD_DATA_DIR=/data \
    PATH=/app/node_modules/.bin:$PATH
VOLUME ["/data"]
USER node
# Healthy while this container's worker heartbeats (every 3 s) as active in PostgreSQL.
HEALTHCHECK --interval=15s --timeout=10s --start-period=60s CMD ["node", "docker/healthcheck.mjs", "worker"]
CMD ["trainyard", "worker"]
