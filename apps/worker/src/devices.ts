/**
 * The devices of one worker machine and the slots it runs on them: one slot per GPU, each
 * slot's training child pinned to its own GPU through its environment. What selects a GPU,
 * for CUDA and for Dawn (WebGPU), and how it was checked: docs/gpu.md.
 */
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import type { BackendPreference } from "@trainyard/shared";

export interface Slot {
  /** "gpu:0" or "cpu:0": what the job records as its device. */
  device: string;
  /** The GPU index for CUDA_VISIBLE_DEVICES, or null for a CPU slot. */
  gpu: string | null;
  /** The device's name for GET /v1/workers: the GPU's name (nvidia-smi's or Dawn's), or "CPU". */
  name: string;
  /** Environment that pins the slot's training child to its device (CUDA_VISIBLE_DEVICES, Dawn's adapter, Mesa's device select). */
  env: Record<string, string>;
}

/** One GPU as found on the machine. */
export interface GpuDevice {
  /** nvidia-smi's index, or the adapter's place in Dawn's order. */
  index: string;
  /** nvidia-smi's name or the Vulkan device name Dawn matches `adapter=` against. */
  name: string;
  /** PCI address as "dddd:bb:dd.f", when known. */
  pci: string | null;
  /** A CPU implementation of Vulkan (Mesa llvmpipe/lavapipe, SwiftShader). */
  software: boolean;
}

export interface SlotPlan {
  slots: Slot[];
  /** Where the GPUs came from. */
  source: "nvidia-smi" | "dawn" | "TRAINYARD_GPUS" | "none";
  /** What an operator must hear: GPUs that could not be pinned, slots that share a GPU. */
  warnings: string[];
}

export interface PlanOptions {
  TRAINYARD_GPUS?: string;
  TRAINYARD_CPU_SLOTS: number;
  TRAINYARD_BACKEND: BackendPreference;
}

/** The environment variable the engine passes to Dawn as `adapter=<name>` (packages/engine/src/backend). */
export const ADAPTER_ENV = "TRAINYARD_WEBGPU_ADAPTER";
const PROBE_TIMEOUT_MS = 20_000;

/** `nvidia-smi --query-gpu=index,name,pci.bus_id --format=csv,noheader` → GPUs. */
export function parseNvidiaSmi(output: string): GpuDevice[] {
  return output.split("\n").flatMap((line) => {
    const match = /^\s*(\d+)\s*,\s*(.+?)\s*,\s*([0-9a-fA-F]+):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])\s*$/.exec(line);
    if (!match) return [];
    const [, index, name, domain, bus, dev, fn] = match;
    const pci = `${domain.slice(-4)}:${bus}:${dev}.${fn}`.toLowerCase();
    return [{ index, name, pci, software: false }];
  });
}

/** Dawn's error for an adapter name that matches nothing lists every adapter: ` * backend: 'vulkan', name: '…'`. */
export function parseDawnAdapterList(message: string): { backend: string; name: string }[] {
  return [...message.matchAll(/^\s*\* backend: '([^']*)', name: '(.*)'\s*$/gm)].map((match) => ({ backend: match[1], name: match[2] }));
}

/** Mesa's device-select layer with MESA_VK_DEVICE_SELECT=list: `  GPU 0: 10de:2684 "NAME" discrete GPU 0000:41:00.0`. */
export function parseDeviceSelectList(stderr: string): { name: string; ids: string; type: string; pci: string | null }[] {
  return [
    ...stderr.matchAll(/^\s*GPU \d+: ([0-9a-f]+:[0-9a-f]+) "(.*)" (.+?)(?: ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-9a-f]))?\s*$/gm),
  ].map((match) => ({ ids: match[1], name: match[2], type: match[3], pci: match[4] ?? null }));
}

/** Names of CPU implementations of Vulkan. */
export function isSoftwareName(name: string): boolean {
  return /\b(llvmpipe|lavapipe|swiftshader)\b/i.test(name);
}

/** Mesa's device-select tag for a PCI address, with `!` so that only that device is exposed. */
export function driPrimeTag(pci: string): string {
  const [domain, bus, rest] = pci.split(":");
  const [dev, fn] = rest.split(".");
  return `pci-${domain}_${bus}_${dev}_${Number.parseInt(fn, 16)}!`;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string; ok: boolean }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: PROBE_TIMEOUT_MS, encoding: "utf8", maxBuffer: 1 << 20 }, (error, stdout, stderr) =>
      resolve({ stdout: stdout ?? "", stderr: stderr ?? "", ok: !error }),
    );
  });
}

/** GPUs nvidia-smi reports, or null where there is no nvidia-smi (or it fails: no driver). */
export async function queryNvidiaSmi(env: NodeJS.ProcessEnv = process.env): Promise<GpuDevice[] | null> {
  const result = await run("nvidia-smi", ["--query-gpu=index,name,pci.bus_id", "--format=csv,noheader"], env);
  return result.ok ? parseNvidiaSmi(result.stdout) : null;
}

/**
 * Asks Dawn, in a short-lived child (the supervisor never holds a Dawn instance: it would keep
 * the process alive), for an adapter whose name cannot exist; its error lists every adapter.
 */
function dawnProbeScript(webgpuUrl: string): string {
  return `
    const { create } = await import(${JSON.stringify(webgpuUrl)});
    let gpu = create(["adapter=trainyard: no such adapter, list them all"]);
    let listed = [];
    try {
      const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
      if (adapter) listed = null;
    } catch (error) {
      listed = String(error && error.message ? error.message : error);
    }
    gpu = null;
    process.stdout.write(JSON.stringify({ listed }));
    process.exit(0);`;
}

function webgpuModuleUrl(): string | null {
  try {
    // The engine depends on `webgpu` (optionally); resolve it from there.
    const engineRequire = createRequire(createRequire(import.meta.url).resolve("@trainyard/engine"));
    return pathToFileURL(engineRequire.resolve("webgpu")).href;
  } catch {
    return null;
  }
}

async function runDawnProbe(env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string; ok: boolean } | null> {
  const url = webgpuModuleUrl();
  if (!url) return null;
  return run(process.execPath, ["--input-type=module", "-e", dawnProbeScript(url)], { XDG_RUNTIME_DIR: "/tmp", ...env });
}

/** Vulkan adapters Dawn enumerates (names in Dawn's order for a high-performance request); [] without Dawn or a driver. */
export async function listDawnAdapters(env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const result = await runDawnProbe(env);
  if (!result?.ok) return [];
  try {
    const { listed } = JSON.parse(result.stdout) as { listed: string | null };
    return typeof listed === "string" ? parseDawnAdapterList(listed).map((adapter) => adapter.name) : [];
  } catch {
    return [];
  }
}

/**
 * The Vulkan devices as Mesa's device-select layer sees them (with PCI addresses where the
 * driver has VK_EXT_pci_bus_info), or null when the layer is not installed: with
 * MESA_VK_DEVICE_SELECT=list the layer prints the list when Dawn enumerates, then exits the process.
 */
export async function listVulkanDevices(env: NodeJS.ProcessEnv = process.env) {
  const result = await runDawnProbe({ ...env, MESA_VK_DEVICE_SELECT: "list" });
  if (!result || !result.stderr.includes("selectable devices:")) return null;
  return parseDeviceSelectList(result.stderr);
}

/**
 * How a child is pinned to each GPU for Dawn: by `adapter=<name>` where the name tells it from
 * the others (Dawn takes the first adapter whose name contains the string), else by Mesa's
 * device-select layer and the GPU's PCI address (DRI_PRIME=pci-…!, which leaves only that
 * device visible to Vulkan), else not at all (a warning).
 */
export function dawnPins(
  gpus: GpuDevice[],
  dawnNames: string[],
  deviceSelect: boolean,
): { env: Record<string, string>[]; warnings: string[] } {
  const warnings: string[] = [];
  const env = gpus.map((gpu) => {
    const pin: Record<string, string> = {};
    if (!dawnNames.some((name) => name.includes(gpu.name))) return pin;
    pin[ADAPTER_ENV] = gpu.name;
    const ambiguous = dawnNames.filter((name) => name.includes(gpu.name)).length > 1;
    if (!ambiguous) return pin;
    if (gpu.pci && deviceSelect) pin.DRI_PRIME = driPrimeTag(gpu.pci);
    else if (gpus.some((other) => other !== gpu && other.name === gpu.name)) {
      warnings.push(
        `GPU ${gpu.index} ("${gpu.name}") has the same name as another GPU and ` +
          (gpu.pci ? "Mesa's device-select Vulkan layer is not installed" : "its PCI address is not known") +
          `: Dawn cannot be pinned to it, so the WebGPU children of these slots may share one GPU (docs/gpu.md)`,
      );
    }
    return pin;
  });
  return { env, warnings };
}

/**
 * The worker's slots: one per GPU (nvidia-smi where present, else the Vulkan adapters Dawn
 * enumerates — software ones only for TRAINYARD_BACKEND=webgpu), or the GPUs TRAINYARD_GPUS
 * names; without GPUs, TRAINYARD_CPU_SLOTS CPU slots.
 */
export async function planSlots(options: PlanOptions, env: NodeJS.ProcessEnv = process.env): Promise<SlotPlan> {
  const warnings: string[] = [];
  const wantsDawn = options.TRAINYARD_BACKEND === "webgpu" || options.TRAINYARD_BACKEND === "auto";
  const nvidia = await queryNvidiaSmi(env);
  const dawnNames = wantsDawn ? await listDawnAdapters(env) : [];
  let found: GpuDevice[];
  let source: SlotPlan["source"];
  if (nvidia && nvidia.length > 0) {
    found = nvidia;
    source = "nvidia-smi";
  } else {
    found = dawnNames
      .map((name, index) => ({ index: String(index), name, pci: null as string | null, software: isSoftwareName(name) }))
      .filter((gpu) => !gpu.software || options.TRAINYARD_BACKEND === "webgpu" || options.TRAINYARD_GPUS);
    source = found.length > 0 ? "dawn" : "none";
  }
  // PCI addresses of Dawn's adapters come from Mesa's layer; only needed when names repeat.
  const repeated = dawnNames.some((name, i) => dawnNames.some((other, j) => i !== j && other.includes(name)));
  let deviceSelect = false;
  if (repeated) {
    const vulkan = await listVulkanDevices(env);
    deviceSelect = vulkan !== null;
    if (source === "dawn" && vulkan) {
      // Same-named devices in the same order: any pairing of identical GPUs is as good as another.
      const used = new Set<number>();
      for (const gpu of found) {
        const at = vulkan.findIndex((device, i) => !used.has(i) && device.name === gpu.name);
        if (at >= 0) {
          used.add(at);
          gpu.pci = vulkan[at].pci;
        }
      }
    }
  }
  const pins = dawnPins(found, dawnNames, deviceSelect);
  warnings.push(...pins.warnings);

  const gpuSlot = (gpu: GpuDevice, index: string, pin: Record<string, string>): Slot => ({
    device: `gpu:${index}`,
    gpu: index,
    name: gpu.name,
    env: { CUDA_VISIBLE_DEVICES: index, ...pin },
  });
  if (options.TRAINYARD_GPUS) {
    const indices = options.TRAINYARD_GPUS.split(",");
    if (new Set(indices).size !== indices.length) throw new Error(`TRAINYARD_GPUS lists a GPU twice: ${options.TRAINYARD_GPUS}`);
    const slots = indices.map((index, position) => {
      const at =
        source === "nvidia-smi" ? found.findIndex((gpu) => gpu.index === index) : Number(index) < found.length ? Number(index) : -1;
      if (at >= 0) return gpuSlot(found[at], index, pins.env[at]);
      if (found.length === 0) return { device: `gpu:${index}`, gpu: index, name: `GPU ${index}`, env: { CUDA_VISIBLE_DEVICES: index } };
      // More GPUs listed than found (e.g. two slots on one software adapter in tests): they share one.
      const shared = position % found.length;
      warnings.push(`TRAINYARD_GPUS lists GPU ${index} but ${source} found ${found.length}: gpu:${index} shares "${found[shared].name}"`);
      return gpuSlot(found[shared], index, pins.env[shared]);
    });
    return { slots, source: found.length > 0 ? source : "TRAINYARD_GPUS", warnings };
  }
  if (found.length > 0) return { slots: found.map((gpu, i) => gpuSlot(gpu, gpu.index, pins.env[i])), source, warnings };
  const slots = Array.from({ length: options.TRAINYARD_CPU_SLOTS }, (_, index) => ({
    device: `cpu:${index}`,
    gpu: null,
    name: "CPU",
    // A CPU slot hides every GPU from its child.
    env: { CUDA_VISIBLE_DEVICES: "" },
  }));
  return { slots, source: "none", warnings };
}
