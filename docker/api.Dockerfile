# Trainyard API (and migrations). Build from the repository root:
#   docker build -f docker/api.Dockerfile -t trainyard-api .
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY apps ./apps
COPY packages ./packages
COPY prisma ./prisma
COPY prisma.config.ts ./
COPY scripts ./scripts
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund \
    && npm cache clean --force
ENV NODE_ENV=production PORT=8080 HOST=0.0.0.0
EXPOSE 8080
USER node
CMD ["node", "apps/cli/bin/trainyard.mjs", "api"]
