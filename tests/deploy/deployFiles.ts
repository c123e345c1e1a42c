import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DockerfileParser, type Env, type Instruction } from "dockerfile-ast";
import { parse, parseAllDocuments } from "yaml";

/** The repository root: in the images it is WORKDIR /app. */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  profiles?: string[];
  healthcheck?: { test: string[] };
  [key: string]: unknown;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  [key: string]: unknown;
}

/** docker-compose.yml as Compose reads it: YAML merge keys (`<<: *common-env`) resolved, nothing interpolated. */
export function readCompose(text = readFileSync(`${REPO_ROOT}docker-compose.yml`, "utf8")): ComposeFile {
  return parse(text, { merge: true }) as ComposeFile;
}

/** Compose's variable interpolation: `${NAME}`, `${NAME:-default}`, `${NAME:?error}` and `$$`. */
export function interpolate(value: string, variables: Record<string, string | undefined>): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}/g, (match, name?: string, operator?: string, rest?: string) => {
    if (match === "$$") return "$";
    const current = variables[name!];
    if (current !== undefined && current !== "") return current;
    if (operator === ":-") return rest!;
    if (operator === ":?") throw new Error(`${name} is required: ${rest}`);
    return "";
  });
}

/** `named-volume:/path` mounts of a service, as [volume, container path]. */
export function namedVolumeMounts(service: ComposeService): [string, string][] {
  return (service.volumes ?? []).map((mount) => mount.split(":").slice(0, 2) as [string, string]).filter(([source]) => !source.startsWith("."));
}

/** The instructions of a Dockerfile's final stage (the image that runs). */
export function finalStage(dockerfileText: string): Instruction[] {
  const instructions = DockerfileParser.parse(dockerfileText).getInstructions();
  const lastFrom = instructions.map((instruction) => instruction.getKeyword()).lastIndexOf("FROM");
  return instructions.slice(lastFrom);
}

/** What an image's final stage sets: its ENV (in order, `$NAME` expanded from the earlier ones and `outside`) and WORKDIR. */
export function imageSettings(dockerfileText: string, outside: Record<string, string | undefined>) {
  const env: Record<string, string> = {};
  let workdir = "/";
  for (const instruction of finalStage(dockerfileText)) {
    if (instruction.getKeyword() === "WORKDIR") workdir = instruction.getArgumentsContent()!;
    if (instruction.getKeyword() !== "ENV") continue;
    for (const property of (instruction as Env).getProperties()) {
      env[property.getName()] = (property.getValue() ?? "").replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_m, name: string) => env[name] ?? outside[name] ?? "");
    }
  }
  return { env, workdir };
}

export function readRepoFile(path: string): string {
  return readFileSync(`${REPO_ROOT}${path}`, "utf8");
}

/** Every document of every YAML file under k8s/. */
export function readManifests(files: string[]): { file: string; object: Record<string, any> }[] {
  return files.flatMap((file) =>
    parseAllDocuments(readRepoFile(`k8s/${file}`))
      .map((document) => document.toJS() as Record<string, any> | null)
      .filter((object): object is Record<string, any> => object !== null)
      .map((object) => ({ file, object })),
  );
}
