FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# patch-package applies patches/ on install (postinstall).
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY . .
# The image runs the compiled dist/ (its verify page bundled) on this base image's Node 24: the project's
# own Node and the bundler, which a production install from source needs, are dead weight here.
RUN npm run build && npm prune --omit=dev && rm -rf node_modules/node node_modules/esbuild node_modules/@esbuild node_modules/.bin/esbuild

# What serve reads at run time, besides dist/: migrations/, docs/, certs/ and package.json;
# `npm run check:image` assembles this stage from these lines and starts it.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/migrations ./migrations
COPY --from=build /app/docs ./docs
# The pinned Apple root (certs/apple), which serve reads at start.
COPY --from=build /app/certs ./certs
# The JSON Schemas of the webhook event catalogue (schemas/events), which ListEventTypes and /openapi.json read.
COPY --from=build /app/schemas ./schemas
COPY --from=build /app/package.json ./package.json
USER node
EXPOSE 8080
CMD ["node", "bin/attesto.js", "serve"]
