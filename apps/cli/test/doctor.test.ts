/**
 * `trainyard doctor` run as a process against the machine's real PostgreSQL and Redis, and
 * against ports where nothing answers. What the backend lines must say depends on what is
 * installed here: the expectations are derived from the machine (node_modules, the Vulkan ICDs),
 * not assumed.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configuredBackend, type ProbeResult } from "../src/commands/doctor.ts";
import { createTestDatabase, TEST_REDIS_URL } from "../../../tests/helpers/database.ts";
import { freePort, TRAINYARD_BIN } from "../../../tests/helpers/processes.ts";

const root = new URL("../../../", import.meta.url).pathname;

function doctor(env: Record<string, string | undefined>): Promise<{ code: number; lines: string[]; output: string }> {
  return new Promise((resolve) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    for (const [key, value] of Object.entries(env)) if (value === undefined) delete childEnv[key];
    execFile(
      process.execPath,
      [TRAINYARD_BIN, "doctor"],
      { env: childEnv, encoding: "utf8", timeout: 170_000 },
      (error, stdout, stderr) => {
        const code = error ? ((error as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === "number" ? code : 1, lines: stdout.split("\n"), output: `${stdout}\n${stderr}` });
      },
    );
  });
}

/** The line of one check: status, name, detail. */
function line(lines: string[], name: string): { status: string; detail: string } {
  const found = lines.find((l) => l.replace(/^(ok|missing)\s+/, "").startsWith(`${name} `));
  if (!found) throw new Error(`no "${name}" line in:\n${lines.join("\n")}`);
  const status = found.split(/\s+/)[0];
  return { status, detail: found.slice(status.length).trim().slice(name.length).trim() };
}

const installed = (pkg: string) => existsSync(`${root}node_modules/${pkg}/package.json`);
/** Mesa's software Vulkan driver (lavapipe) is installed: Dawn then has at least a software adapter. */
const lavapipe = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"].some(
  (dir) => existsSync(dir) && readdirSync(dir).some((f) => f.startsWith("lvp_icd")),
);

describe("trainyard doctor", () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it("reports the backends, GPUs, services and data sets of this machine, exit 0 when auto trains and the services answer", async () => {
    const { code, lines, output } = await doctor({ DATABASE_URL: database.url, REDIS_URL: TEST_REDIS_URL, TRAINYARD_BACKEND: undefined });
    expect(lines[0]).toBe("trainyard doctor (TRAINYARD_BACKEND=auto)");

    for (const backend of ["wasm", "cpu"]) {
      const { status, detail } = line(lines, `backend ${backend}`);
      expect(status, output).toBe("ok");
      expect(detail).toMatch(/^trains a small convnet \(loss (\d+\.\d+) → (\d+\.\d+) in 4 steps/);
    }
    for (const pkg of ["@tensorflow/tfjs-node", "@tensorflow/tfjs-node-gpu"]) {
      const { status, detail } = line(lines, `backend tensorflow (${pkg})`);
      if (!installed(pkg)) {
        expect(status).toBe("missing");
        expect(detail).toMatch(/^not installed: an optional dependency whose install script downloads libtensorflow/);
      } else expect(detail).toMatch(status === "ok" ? /^trains a small convnet/ : /^installed but does not train: /);
    }
    const webgpu = line(lines, "backend webgpu");
    if (!installed("webgpu")) expect(webgpu.detail).toMatch(/^not installed/);
    else if (lavapipe) {
      expect(webgpu.status, output).toBe("ok");
      expect(webgpu.detail).toMatch(/Dawn's adapters: vulkan: .*llvmpipe/);
      if (!/a hardware adapter/.test(webgpu.detail))
        expect(webgpu.detail).toMatch(/on "llvmpipe.*\(a software adapter: correct but slow, auto skips it/);
    }

    const gpus = line(lines, "gpus");
    if (gpus.status === "ok") expect(gpus.detail).toMatch(/^nvidia-smi: \d+, /);
    else expect(gpus.detail).toMatch(/^nvidia-smi (not found|failed|lists no GPU)/);

    const migrations = readdirSync(`${root}prisma/migrations`, { withFileTypes: true }).filter((d) => d.isDirectory()).length;
    expect(line(lines, "postgresql")).toEqual({
      status: "ok",
      detail: expect.stringMatching(new RegExp(`^answers at postgresql://.*: PostgreSQL \\d+[.\\d]*.*, ${migrations} migrations applied$`)),
    });
    expect(line(lines, "redis")).toEqual({ status: "ok", detail: expect.stringMatching(/^answers at redis:\/\/.*: Redis \d+\.\d+\.\d+$/) });
    const dataset = line(lines, "dataset fashion-mnist");
    expect(dataset.status).toBe(existsSync("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") ? "ok" : dataset.status);

    // What auto takes follows the engine's order.
    const tensorflowTrains = line(lines, "backend tensorflow (@tensorflow/tfjs-node)").status === "ok" && gpus.status !== "ok";
    const expected = tensorflowTrains
      ? "auto trains on tensorflow"
      : /a hardware adapter/.test(webgpu.detail)
        ? "auto trains on webgpu"
        : "auto trains on wasm";
    expect(line(lines, "configured backend")).toEqual({ status: "ok", detail: expect.stringContaining(expected) });
    expect(lines).toContain("ready: the configured backend trains and the services answer");
    expect(code, output).toBe(0);
  });

  it("exits non-zero when Redis does not answer, though the configured backend trains", async () => {
    const port = await freePort();
    const { code, lines, output } = await doctor({
      DATABASE_URL: database.url,
      REDIS_URL: `redis://127.0.0.1:${port}`,
      TRAINYARD_BACKEND: "cpu",
    });
    expect(line(lines, "redis")).toEqual({ status: "missing", detail: expect.stringMatching(`^no answer at redis://127.0.0.1:${port}`) });
    expect(line(lines, "postgresql").status).toBe("ok");
    expect(line(lines, "configured backend")).toEqual({ status: "ok", detail: "TRAINYARD_BACKEND=cpu trains here" });
    expect(lines).toContain("not ready: Redis");
    expect(code, output).toBe(1);
  });

  it.runIf(!installed("@tensorflow/tfjs-node"))(
    "exits non-zero when TRAINYARD_BACKEND names a backend that does not load, and PostgreSQL does not answer",
    async () => {
      const port = await freePort();
      const { code, lines, output } = await doctor({
        DATABASE_URL: `postgresql://postgres@127.0.0.1:${port}/trainyard`,
        REDIS_URL: TEST_REDIS_URL,
        TRAINYARD_BACKEND: "tensorflow",
        TRAINYARD_GPUS: undefined,
      });
      expect(line(lines, "configured backend")).toEqual({ status: "missing", detail: "TRAINYARD_BACKEND=tensorflow does not train here" });
      expect(line(lines, "postgresql")).toEqual({
        status: "missing",
        detail: expect.stringMatching(`^no answer at postgresql://postgres@127.0.0.1:${port}/trainyard`),
      });
      expect(lines).toContain("not ready: the configured backend, PostgreSQL");
      expect(code, output).toBe(1);
    },
  );
});

describe("the configured backend from the probes", () => {
  const trains = (extra: Partial<ProbeResult> = {}): ProbeResult => ({ ok: true, losses: [2, 1], ...extra });
  const fails: ProbeResult = { ok: false, error: "no" };

  it("auto follows tensorflow → webgpu (hardware only) → wasm → cpu", () => {
    const software = trains({ adapter: "llvmpipe", software: true });
    const hardware = trains({ adapter: "NVIDIA GeForce RTX 4090", software: false });
    expect(configuredBackend("auto", { "tensorflow-cpu": null, webgpu: software, wasm: trains(), cpu: trains() }, false).detail).toBe(
      "auto trains on wasm",
    );
    expect(configuredBackend("auto", { "tensorflow-cpu": null, webgpu: hardware, wasm: trains() }, false).detail).toBe(
      "auto trains on webgpu (NVIDIA GeForce RTX 4090)",
    );
    expect(configuredBackend("auto", { "tensorflow-gpu": trains(), "tensorflow-cpu": null, webgpu: hardware }, true).detail).toMatch(
      /tfjs-node-gpu/,
    );
    // A GPU slot loads tfjs-node-gpu: tfjs-node training does not make tensorflow auto's pick there.
    expect(
      configuredBackend("auto", { "tensorflow-gpu": fails, "tensorflow-cpu": trains(), webgpu: fails, wasm: trains() }, true).detail,
    ).toBe("auto trains on wasm");
    expect(configuredBackend("auto", { webgpu: fails, wasm: fails, cpu: trains() }, false).detail).toMatch(/cpu/);
    expect(configuredBackend("auto", { webgpu: fails, wasm: fails, cpu: fails }, false).ok).toBe(false);
  });

  it("an explicit backend is its own probe, and webgpu takes a software adapter when named", () => {
    expect(configuredBackend("webgpu", { webgpu: trains({ software: true }) }, false).ok).toBe(true);
    expect(configuredBackend("tensorflow", { "tensorflow-cpu": trains(), "tensorflow-gpu": null }, true).ok).toBe(false);
    expect(configuredBackend("wasm", { wasm: fails, cpu: trains() }, false).ok).toBe(false);
  });
});
