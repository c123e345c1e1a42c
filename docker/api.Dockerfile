# Trainyard API (and migrations). Optional dependencies stay: esbuild (tsx) and sharp ship their
# native binaries as optional packages. Build from the repository root:
#   docker build -f docker/api.Dockerfile -t trainyard-api .
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
ENV NODE_ENV=production PORT=8080 HOST=0.0.0.0
EXPOSE 8080
USER node
CMD ["node", "apps/cli/bin/trainyard.mjs", "api"]
