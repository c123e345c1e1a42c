# Trainyard API (and migrations, and the `trainyard` command: `docker compose run --rm api trainyard keys
# create --tenant me`). Optional dependencies stay: esbuild (tsx) and sharp ship their native binaries as
# optional packages. Build from the repository root:
#   docker build -f docker/api.Dockerfile -t trainyard-api:0.1.0 .
FROM node:22.12.0-bookworm-slim
# Built-in Fashion-MNIST (Debian's package: IDX files under /usr/share/datasets/fashion-mnist), which the API
# lists and validates job specs against, and the uid-1000 data folder a named volume inherits on first mount.
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
    PORT=8080 \
    HOST=0.0.0.0 \
    TRAINYARD_DATA_DIR=/data \
    PATH=/app/node_modules/.bin:$PATH
VOLUME ["/data"]
EXPOSE 8080
USER node
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s CMD ["node", "docker/healthcheck.mjs", "api"]
CMD ["trainyard", "api"]
