# syntax=docker/dockerfile:1
#
# One image for every role of the orchestrator (RPA_ROLES picks the role: api, batcher, worker,
# maintenance, portals) and, as the target `browser`, the browser pool (RPA_ROLES=browser) on
# Microsoft's Playwright image, whose Chromium is the one playwright-core expects.
#
#   docker build -t rpa-orchestrator:TAG .
#   docker build --target browser -t rpa-orchestrator-browser:TAG .
#
# PLAYWRIGHT_VERSION must equal the exact playwright-core version in package.json
# (test/k8s/dockerfile.test.ts checks it): the pool's protocol refuses a different client.
#
# Base images are pinned by digest (the tag says what it is, the digest what is pulled): the
# image index of node:22-bookworm-slim as docker-library/repo-info records it. To move to a newer
# build: `docker buildx imagetools inspect node:22-bookworm-slim` and put its index digest here.
# The Playwright image is NOT pinned yet: no published digest of v1.65.1-noble could be found
# from the machine this was written on (no registry access). Pin it the same way before a
# production build (docs/security.md, "Images").
ARG NODE_IMAGE=node:22-bookworm-slim@sha256:48e4b67d85f87bd551df43704e24d252f56cc5f8e9718841aace50f19948f0f9
ARG PLAYWRIGHT_VERSION=1.65.1

# --- build: all dependencies, compile TypeScript ---------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
RUN node node_modules/typescript/bin/tsc -p tsconfig.json \
 && test -f dist/src/main.js

# --- prod-deps: runtime dependencies only (no dev dependencies in any image) -----------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
ENV PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime: the orchestrator (default target) ----------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# Files owned by root and read-only for everyone else, group 0 included: OpenShift runs the
# container as an arbitrary UID in group 0, which must be able to read the code but not change
# it. The root file system is mounted read-only too; the only writable place is /tmp (an
# emptyDir in Kubernetes).
WORKDIR /app
ENV NODE_ENV=production \
    HOME=/tmp \
    RPA_DATA_DIR=/tmp/rpa-data \
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
    PORT=8620
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/migrations ./dist/migrations
COPY package.json ./
COPY bin ./bin
COPY scripts/healthcheck.mjs ./scripts/healthcheck.mjs
RUN chown -R 0:0 /app && chmod -R a=rX /app
USER 10001:0
EXPOSE 8620
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["node", "scripts/healthcheck.mjs"]
CMD ["node", "--enable-source-maps", "dist/src/main.js"]

# --- browser: the browser pool on the Playwright image of the same version --------------------
FROM mcr.microsoft.com/playwright:v${PLAYWRIGHT_VERSION}-noble AS browser
WORKDIR /app
# The image carries the Chromium build this Playwright version was released with.
RUN chromium="$(ls -d /ms-playwright/chromium-*/chrome-linux*/chrome | head -n 1)" \
 && test -x "$chromium" \
 && ln -s "$chromium" /usr/local/bin/rpa-chromium
ENV NODE_ENV=production \
    HOME=/tmp \
    RPA_DATA_DIR=/tmp/rpa-data \
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
    RPA_ROLES=browser \
    HOST=0.0.0.0 \
    BROWSER_POOL_PORT=8630 \
    CHROMIUM_PATH=/usr/local/bin/rpa-chromium
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY scripts/healthcheck.mjs ./scripts/healthcheck.mjs
# Read-only for the runtime user and its group 0, as in the runtime stage.
RUN chown -R 0:0 /app && chmod -R a=rX /app
USER 10001:0
EXPOSE 8630
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["node", "scripts/healthcheck.mjs"]
CMD ["node", "--enable-source-maps", "dist/src/main.js"]
