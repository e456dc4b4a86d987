import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { buildCommands, copyTarget, finalStage, parseCopy, parseDockerfile, parseEnv } from "../scripts/dockerfile.js";
import { loadConfig } from "../src/config.js";
import { projectRoot } from "../src/paths.js";
import { serverRunTimeFiles } from "../src/run-time-files.js";

const sample = `# syntax comment
FROM node:24 AS build
WORKDIR /app
COPY package.json ./
RUN npm ci
COPY . .
RUN npm run build && \\
    npm prune --omit=dev

FROM node:24-slim
WORKDIR /srv
WORKDIR app
ENV NODE_ENV=production HOST="0.0.0.0" PORT=8080
ENV GREETING hello there
COPY --from=build /app/dist ./dist
COPY --from=build --chown=node:node /app/package.json /app/bin ./
USER node
CMD ["node", "bin/attesto.js", "serve"]
`;

describe("the Dockerfile as npm run check:image reads it", () => {
  it("reads the final stage's WORKDIR, ENV, COPY --from, USER and CMD", () => {
    const final = finalStage(parseDockerfile(sample));
    expect(final).toEqual({
      buildStage: "build",
      workdir: "/srv/app",
      env: { NODE_ENV: "production", HOST: "0.0.0.0", PORT: "8080", GREETING: "hello there" },
      copies: [
        { source: "dist", dest: "dist", line: 15 },
        { source: "package.json", dest: "", line: 16 },
        { source: "bin", dest: "", line: 16 },
      ],
      cmd: ["node", "bin/attesto.js", "serve"],
      user: "node",
    });
  });

  it("takes the build stage's commands after COPY . ., continuation lines joined", () => {
    expect(buildCommands(parseDockerfile(sample), "build")).toEqual({ workdir: "/app", commands: ["npm run build &&     npm prune --omit=dev"] });
  });

  it("refuses what it cannot reproduce, naming the line", () => {
    expect(() => finalStage(parseDockerfile(`${sample}RUN apt-get install -y curl\n`))).toThrow(/line 19: the check cannot reproduce RUN/);
    expect(() => finalStage(parseDockerfile(`${sample}COPY certs ./certs\n`))).toThrow(/line 19: the check reproduces COPY --from=<stage> only/);
    expect(() => finalStage(parseDockerfile(`${sample}COPY --from=build /etc/passwd ./\n`))).toThrow(/outside the build stage's WORKDIR \/app/);
    expect(() => finalStage(parseDockerfile(`${sample}COPY --from=build /app/x /opt/x\n`))).toThrow(/outside WORKDIR \/srv\/app/);
    expect(() => finalStage(parseDockerfile(sample.replace('CMD ["node", "bin/attesto.js", "serve"]', "CMD node bin/attesto.js serve")))).toThrow(/exec form/);
  });

  it("puts a folder's contents into the destination and a file into a destination folder by its name", () => {
    expect(copyTarget({ source: "dist", dest: "dist", line: 1 }, true)).toBe("dist");
    expect(copyTarget({ source: "dist", dest: "", line: 1 }, true)).toBe(".");
    expect(copyTarget({ source: "certs/apple", dest: "certs/", line: 1 }, true)).toBe("certs");
    expect(copyTarget({ source: "bin/attesto.js", dest: "bin/", line: 1 }, false)).toBe("bin/attesto.js");
    expect(copyTarget({ source: "package.json", dest: "", line: 1 }, false)).toBe("package.json");
    expect(copyTarget({ source: "package.json", dest: "meta.json", line: 1 }, false)).toBe("meta.json");
  });

  it("reads ENV and COPY in their quoted and JSON forms", () => {
    expect(parseEnv(`A=1 B="two words" C='it''s' D=x\\ y`)).toEqual({ A: "1", B: "two words", C: "its", D: "x y" });
    expect(parseCopy(`--from=build ["/app/a b", "./c"]`)).toEqual({ flags: { from: "build" }, sources: ["/app/a b"], dest: "./c" });
  });

  it("the project's Dockerfile copies every file serve reads at run time into its final stage", () => {
    const root = projectRoot();
    const final = finalStage(parseDockerfile(readFileSync(path.join(root, "Dockerfile"), "utf8")));
    const shipped = loadConfig({}).appleRootCertFiles;
    const needed = serverRunTimeFiles({ appleRootCertFiles: shipped, compiled: true }, root).map((f) => f.path);
    const copied = final.copies.map((c) => copyTarget(c, statSync(path.join(root, c.source), { throwIfNoEntry: false })?.isDirectory() ?? false));
    for (const file of [...needed, "package.json", "bin/attesto.js"]) {
      expect(
        copied.some((dir) => file === dir || file.startsWith(`${dir.replace(/\/$/, "")}/`)),
        `${file} is not copied by the final stage`,
      ).toBe(true);
    }
  });
});
