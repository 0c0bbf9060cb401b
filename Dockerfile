# Berth's workers (and CLI) on Node 24, as a non-root user. Node runs the TypeScript sources
# directly (type stripping), so there is no build stage. The entry is the one users run
# (package.json's bin): bin/berth.js, which checks Node's version and turns on the compile cache.
FROM node:24-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
COPY workers ./workers

USER node
# Healthy while the database answers and the schema is current.
HEALTHCHECK --interval=15s --timeout=10s --start-period=20s --retries=3 \
  CMD ["node", "bin/berth.js", "service", "list", "--json"]
ENTRYPOINT ["node", "bin/berth.js"]
CMD ["worker"]
