# syntax=docker/dockerfile:1.7
# The gateway image. Build context is the repository root:
#   docker build -f deploy/docker/gateway.Dockerfile -t luthien/gateway .
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS pnpm
# pnpm through npm, not corepack: corepack 0.34 cannot verify pnpm 12's registry signatures.
RUN npm install -g pnpm@12.4.2 && npm cache clean --force
ENV CI=true
WORKDIR /app

# Compiles the service and the workspace packages it references (tsc -b follows the project references).
FROM pnpm AS build
COPY . .
RUN --mount=type=cache,id=luthien-pnpm,target=/pnpm/store \
    pnpm install --frozen-lockfile --store-dir /pnpm/store \
 && pnpm exec tsc -b services/gateway

# Production dependencies only, in the workspace layout: workspace packages stay symlinks under node_modules/@luthien,
# and @luthien/protocol finds the .proto files at the repository root (proto/), as it does in development.
FROM pnpm AS prod
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/runtime/package.json packages/runtime/
COPY packages/protocol/package.json packages/protocol/
COPY packages/wire/package.json packages/wire/
COPY packages/events/package.json packages/events/
COPY packages/keys/package.json packages/keys/
COPY packages/telemetry/package.json packages/telemetry/
COPY services/gateway/package.json services/gateway/
RUN --mount=type=cache,id=luthien-pnpm,target=/pnpm/store \
    pnpm install --frozen-lockfile --prod --store-dir /pnpm/store --filter "@luthien/gateway..."
COPY --from=build /app/proto proto
COPY --from=build /app/packages/runtime/dist packages/runtime/dist
COPY --from=build /app/packages/protocol/dist packages/protocol/dist
COPY --from=build /app/packages/wire/dist packages/wire/dist
COPY --from=build /app/packages/events/dist packages/events/dist
COPY --from=build /app/packages/keys/dist packages/keys/dist
COPY --from=build /app/packages/telemetry/dist packages/telemetry/dist
COPY --from=build /app/services/gateway/dist services/gateway/dist

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
COPY --from=prod /app /app
WORKDIR /app/services/gateway
# The `node` user of the official image, by number so Kubernetes can check runAsNonRoot.
USER 1000:1000
EXPOSE 8000
# Slim images have no curl: node's own fetch asks the liveness endpoint.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.GATEWAY_PORT || 8000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]
