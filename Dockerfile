# kiln's own image (api, builder and analyzer share it; compose.yaml picks the command).
# The web form is built in a first stage (Vite is a dev dependency); the image keeps only its output.
FROM node:20-bookworm-slim AS web
WORKDIR /srv/kiln
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run web:build && npm run api:build

FROM node:20-bookworm-slim
WORKDIR /srv/kiln
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
COPY --from=web /srv/kiln/api/web/dist api/web/dist
# The api runs bundled (plain node, no TypeScript loader): about 40 MB less memory per process.
COPY --from=web /srv/kiln/api/dist api/dist
USER node
CMD ["node", "api/dist/server.mjs"]
