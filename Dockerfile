# kiln's own image (api, builder and analyzer share it; compose.yaml picks the command).
FROM node:20-bookworm-slim
WORKDIR /srv/kiln
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
USER node
CMD ["npm", "run", "api"]
