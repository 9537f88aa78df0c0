# One image for every Slipway service: the monorepo built once; each container runs one
# `node packages/<name>/dist/main.js` (see docker-compose.yml).
FROM node:20-bookworm-slim AS build
WORKDIR /slipway
RUN npm install --global pnpm@10.34.8
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml tsconfig.base.json tsconfig.json ./
COPY packages ./packages
COPY templates ./templates
COPY examples ./examples
RUN pnpm install --frozen-lockfile && pnpm exec tsc -b && pnpm prune --prod

FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends git packer ca-certificates \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /slipway
COPY --from=build /slipway /slipway
ENV NODE_ENV=production HOST=0.0.0.0 SLIPWAY_HOME=/data
USER node
CMD ["node", "packages/metadata/dist/main.js"]
