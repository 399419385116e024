# syntax=docker/dockerfile:1.7
# The monitor image. Build context is the repository root:
#   docker build -f deploy/docker/monitor.Dockerfile -t luthien/monitor .
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
 && pnpm exec tsc -b services/monitor

# Production dependencies only, in the workspace layout (workspace packages stay symlinks under node_modules/@luthien).
FROM pnpm AS prod
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/runtime/package.json packages/runtime/
COPY packages/events/package.json packages/events/
COPY packages/approvals/package.json packages/approvals/
COPY packages/keys/package.json packages/keys/
COPY packages/telemetry/package.json packages/telemetry/
COPY services/monitor/package.json services/monitor/
RUN --mount=type=cache,id=luthien-pnpm,target=/pnpm/store \
    pnpm install --frozen-lockfile --prod --store-dir /pnpm/store --filter "@luthien/monitor..."
COPY --from=build /app/packages/runtime/dist packages/runtime/dist
COPY --from=build /app/packages/events/dist packages/events/dist
COPY --from=build /app/packages/approvals/dist packages/approvals/dist
COPY --from=build /app/packages/keys/dist packages/keys/dist
COPY --from=build /app/packages/telemetry/dist packages/telemetry/dist
COPY --from=build /app/services/monitor/dist services/monitor/dist
# Read at run time next to dist/: the web UI and the migrations applied at start.
COPY --from=build /app/services/monitor/public services/monitor/public
COPY --from=build /app/services/monitor/drizzle services/monitor/drizzle
# Embedded PGlite's data, used only when DATABASE_URL is unset; writable by the service user.
RUN mkdir -p /data && chown 1000:1000 /data

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
ENV MONITOR_DATA_DIR=/data/monitor-db
COPY --from=prod /app /app
COPY --from=prod --chown=1000:1000 /data /data
WORKDIR /app/services/monitor
# The `node` user of the official image, by number so Kubernetes can check runAsNonRoot.
USER 1000:1000
VOLUME ["/data"]
EXPOSE 8001
# Slim images have no curl: node's own fetch asks the liveness endpoint.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.MONITOR_PORT || 8001) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]
