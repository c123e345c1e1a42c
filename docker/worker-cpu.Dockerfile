# Trainyard worker on CPU cores: TF.js wasm backend with Trainyard's kernels, or
# @tensorflow/tfjs-node when its install can download libtensorflow (it can at image build).
FROM node:22-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY apps ./apps
COPY packages ./packages
COPY prisma ./prisma
COPY prisma.config.ts ./
COPY scripts ./scripts
RUN npm ci --omit=dev --no-audit --no-fund \
    && npm cache clean --force
ENV NODE_ENV=production TRAINYARD_BACKEND=auto TRAINYARD_DATA_DIR=/data
VOLUME ["/data"]
USER node
CMD ["node", "apps/cli/bin/trainyard.mjs", "worker"]
