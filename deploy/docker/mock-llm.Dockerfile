# syntax=docker/dockerfile:1.7
# The mock provider image, for demos and load tests. Build context is the repository root:
#   docker build -f deploy/docker/mock-llm.Dockerfile -t luthien/mock-llm .
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
 && pnpm exec tsc -b services/mock-llm

# Production dependencies only, in the workspace layout (workspace packages stay symlinks under node_modules/@luthien).
FROM pnpm AS prod
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/runtime/package.json packages/runtime/
COPY services/mock-llm/package.json services/mock-llm/
RUN --mount=type=cache,id=luthien-pnpm,target=/pnpm/store \
    pnpm install --frozen-lockfile --prod --store-dir /pnpm/store --filter "@luthien/mock-llm..."
COPY --from=build /app/packages/runtime/dist packages/runtime/dist
COPY --from=build /app/services/mock-llm/dist services/mock-llm/dist

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
# Its own default is loopback only; in a container it must answer the other containers.
ENV MOCK_LLM_HOST=0.0.0.0
COPY --from=prod /app /app
WORKDIR /app/services/mock-llm
# The `node` user of the official image, by number so Kubernetes can check runAsNonRoot.
USER 1000:1000
EXPOSE 8100
# Slim images have no curl: node's own fetch asks the liveness endpoint.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.MOCK_LLM_PORT || 8100) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]
