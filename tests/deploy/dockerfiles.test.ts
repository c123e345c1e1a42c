import { DockerfileParser, type Instruction } from "dockerfile-ast";
import { validate } from "dockerfile-utils";
import { describe, expect, it } from "vitest";
import { finalStage, imageSettings, readRepoFile } from "./deployFiles.ts";

/**
 * docker/*.Dockerfile through dockerfile-utils' linter (the Dockerfile language server's checks: unknown or
 * misplaced instructions, bad flags and arguments, duplicate CMDs, …), then rules of our own on the
 * parsed files: hadolint's best practices that matter here (it is not packaged for Debian 12 or npm).
 */
const DOCKERFILES = ["docker/api.Dockerfile", "docker/worker-cpu.Dockerfile", "docker/worker-gpu.Dockerfile"];

function lint(text: string): string[] {
  return validate(text).map((diagnostic) => `line ${diagnostic.range.start.line + 1}: ${diagnostic.message}`);
}

const argumentsOf = (instruction: Instruction) => instruction.getArgumentsContent() ?? "";

/** Our own rules; each problem is one line naming the rule. */
function ruleViolations(text: string): string[] {
  const problems: string[] = [];
  const instructions = DockerfileParser.parse(text).getInstructions();
  for (const from of instructions.filter((instruction) => instruction.getKeyword() === "FROM")) {
    const image = argumentsOf(from).split(/\s+/)[0];
    const tag = image.includes("@") ? "digest" : image.split("/").at(-1)!.split(":")[1];
    if (!tag || tag === "latest" || !/\d/.test(tag)) problems.push(`FROM ${image}: pin a versioned tag`);
  }
  for (const run of instructions.filter((instruction) => instruction.getKeyword() === "RUN")) {
    const command = argumentsOf(run);
    if (!/apt-get install/.test(command)) continue;
    if (!/apt-get update/.test(command)) problems.push("apt-get install without apt-get update in the same RUN");
    if (!/--no-install-recommends/.test(command)) problems.push("apt-get install without --no-install-recommends");
    if (!/rm -rf \/var\/lib\/apt\/lists\/\*/.test(command)) problems.push("apt-get install without rm -rf /var/lib/apt/lists/*");
  }
  const stage = finalStage(text);
  const users = stage.filter((instruction) => instruction.getKeyword() === "USER").map(argumentsOf);
  if (users.length === 0 || ["root", "0"].includes(users.at(-1)!.split(":")[0])) problems.push("the image runs as root: end with USER <non-root>");
  if (!stage.some((instruction) => instruction.getKeyword() === "HEALTHCHECK")) problems.push("no HEALTHCHECK");
  return problems;
}

describe.each(DOCKERFILES)("%s", (file) => {
  const text = readRepoFile(file);

  it("passes dockerfile-utils' linter and our rules (pinned bases, apt lists cleaned, non-root, healthcheck)", () => {
    expect(lint(text)).toEqual([]);
    expect(ruleViolations(text)).toEqual([]);
  });

  it("carries Fashion-MNIST, a uid-1000 /data for the shared volume, TRAINYARD_DATA_DIR=/data and `trainyard` on PATH", () => {
    expect(text).toMatch(/apt-get install[^\n]*dataset-fashion-mnist|COPY --from=\S+ \/usr\/share\/datasets\/fashion-mnist /);
    expect(text).toMatch(/mkdir -p \/data[\s\\]*&& chown (node|trainyard):(node|trainyard) \/data/);
    expect(text).toMatch(/(useradd --uid 1000|USER node)/);
    const { env, workdir } = imageSettings(text, { PATH: "/usr/bin" });
    expect(env.TRAINYARD_DATA_DIR).toBe("/data");
    expect(env.PATH.split(":")[0]).toBe(`${workdir}/node_modules/.bin`);
  });
});

describe("the Dockerfile checks", () => {
  it("fail a Dockerfile that breaks them", () => {
    const broken = [
      "FROM node:latest",
      "RUN apt-get install -y curl",
      "CMD node a.js",
      'CMD ["node", "b.js"]',
      "EXPOZE 8080",
      "USER root",
    ].join("\n");
    expect(lint(broken)).toEqual(
      expect.arrayContaining([expect.stringContaining("Unknown instruction: EXPOZE"), expect.stringContaining("only be one CMD")]),
    );
    expect(ruleViolations(broken)).toEqual([
      "FROM node:latest: pin a versioned tag",
      "apt-get install without apt-get update in the same RUN",
      "apt-get install without --no-install-recommends",
      "apt-get install without rm -rf /var/lib/apt/lists/*",
      "the image runs as root: end with USER <non-root>",
      "no HEALTHCHECK",
    ]);
  });
});
