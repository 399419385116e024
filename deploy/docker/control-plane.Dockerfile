# syntax=docker/dockerfile:1.7
# The policy engine image. Build context is the repository root:
#   docker build -f deploy/docker/control-plane.Dockerfile -t luthien/control-plane .
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
 && pnpm exec tsc -b services/control-plane

# Production dependencies only, in the workspace layout: workspace packages stay symlinks under node_modules/@luthien,
# and @luthien/protocol finds the .proto files at the repository root (proto/), as it does in development.
FROM pnpm AS prod
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/runtime/package.json packages/runtime/
COPY packages/protocol/package.json packages/protocol/
COPY packages/wire/package.json packages/wire/
COPY packages/policy-sdk/package.json packages/policy-sdk/
COPY packages/events/package.json packages/events/
COPY packages/approvals/package.json packages/approvals/
COPY packages/telemetry/package.json packages/telemetry/
COPY services/control-plane/package.json services/control-plane/
RUN --mount=type=cache,id=luthien-pnpm,target=/pnpm/store \
    pnpm install --frozen-lockfile --prod --store-dir /pnpm/store --filter "@luthien/control-plane..."
COPY --from=build /app/proto proto
COPY --from=build /app/packages/runtime/dist packages/runtime/dist
COPY --from=build /app/packages/protocol/dist packages/protocol/dist
COPY --from=build /app/packages/wire/dist packages/wire/dist
COPY --from=build /app/packages/policy-sdk/dist packages/policy-sdk/dist
COPY --from=build /app/packages/events/dist packages/events/dist
COPY --from=build /app/packages/approvals/dist packages/approvals/dist
COPY --from=build /app/packages/telemetry/dist packages/telemetry/dist
COPY --from=build /app/services/control-plane/dist services/control-plane/dist

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
COPY --from=prod /app /app
WORKDIR /app/services/control-plane
# The `node` user of the official image, by number so Kubernetes can check runAsNonRoot.
USER 1000:1000
# 50051: gRPC (PolicyEngine and grpc.health.v1); 9464: Prometheus metrics.
EXPOSE 50051 9464
# The standard gRPC health check of the engine service, through the protocol package's own client.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const p = require('@luthien/protocol'); p.checkHealth(p.createHealthClient('127.0.0.1:' + (process.env.CONTROL_PLANE_PORT || 50051)), 'luthien.policy.v1.PolicyEngine', 2000).then((ok) => process.exit(ok ? 0 : 1))"]
CMD ["node", "dist/main.js"]
