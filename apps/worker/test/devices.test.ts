import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  ADAPTER_ENV,
  dawnPins,
  driPrimeTag,
  listDawnAdapters,
  listVulkanDevices,
  parseDawnAdapterList,
  parseDeviceSelectList,
  parseNvidiaSmi,
  planSlots,
} from "../src/devices.ts";

/**
 * Device discovery against this machine's real Dawn and Vulkan loader. Without a GPU, Dawn has
 * one adapter, Mesa's llvmpipe; two identical adapters are made by listing lavapipe's driver
 * manifest twice (VK_DRIVER_FILES), which is how several GPUs sharing one name look to Dawn.
 */
const LVP_MANIFEST = "/usr/share/vulkan/icd.d/lvp_icd.json";
const dir = mkdtempSync(join(tmpdir(), "trainyard-icd-"));
const twoLavapipes = [join(dir, "lvp_a.json"), join(dir, "lvp_b.json")];
for (const file of twoLavapipes) copyFileSync(LVP_MANIFEST, file);
const env = { ...process.env, XDG_RUNTIME_DIR: "/tmp" };
const twoEnv = { ...env, VK_DRIVER_FILES: twoLavapipes.join(":") };
/** These machines have no GPU (docs: environment); on one with a GPU the machine-bound tests below are skipped. */
const softwareOnly = (await listDawnAdapters(env)).every((name) => /llvmpipe|lavapipe/.test(name));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("what the tools print", () => {
  it("reads nvidia-smi's index, name and PCI bus id", () => {
    const output = "0, NVIDIA H100 80GB HBM3, 00000000:41:00.0\n1, NVIDIA H100 80GB HBM3, 00000000:C1:00.0\n\n";
    expect(parseNvidiaSmi(output)).toEqual([
      { index: "0", name: "NVIDIA H100 80GB HBM3", pci: "0000:41:00.0", software: false },
      { index: "1", name: "NVIDIA H100 80GB HBM3", pci: "0000:c1:00.0", software: false },
    ]);
    expect(parseNvidiaSmi("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")).toEqual([]);
  });

  it("turns a PCI address into Mesa's DRI_PRIME tag that leaves only that device", () => {
    expect(driPrimeTag("0000:c1:00.0")).toBe("pci-0000_c1_00_0!");
  });

  it("reads the device-select layer's list with and without PCI addresses", () => {
    const stderr =
      'selectable devices:\n  GPU 0: 10de:2330 "NVIDIA H100 80GB HBM3" discrete GPU 0000:41:00.0\n  GPU 1: 10005:0 "llvmpipe (LLVM 15.0.6, 256 bits)" CPU\n';
    expect(parseDeviceSelectList(stderr)).toEqual([
      { ids: "10de:2330", name: "NVIDIA H100 80GB HBM3", type: "discrete GPU", pci: "0000:41:00.0" },
      { ids: "10005:0", name: "llvmpipe (LLVM 15.0.6, 256 bits)", type: "CPU", pci: null },
    ]);
  });
});

describe.runIf(softwareOnly)("Dawn's adapters on this machine", () => {
  it("lists the one software adapter by the Vulkan name that adapter= matches", async () => {
    const names = await listDawnAdapters(env);
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^llvmpipe \(LLVM [\d.]+, \d+ bits\)$/);
    expect(parseDawnAdapterList(`no suitable backends found\nAvailable adapters:\n * backend: 'vulkan', name: '${names[0]}'`)).toEqual([
      { backend: "vulkan", name: names[0] },
    ]);
  });

  it("sees two adapters with one name when two drivers give identical devices", async () => {
    const names = await listDawnAdapters(twoEnv);
    expect(names).toHaveLength(2);
    expect(names[0]).toBe(names[1]);
    // Mesa's device-select layer is installed (mesa-vulkan-drivers) and lists them; lavapipe has no PCI address.
    const vulkan = await listVulkanDevices(twoEnv);
    expect(vulkan?.map((device) => [device.name, device.type, device.pci])).toEqual([
      [names[0], "CPU", null],
      [names[0], "CPU", null],
    ]);
  });
});

describe.runIf(softwareOnly)("slots on this machine", () => {
  it("TRAINYARD_GPUS=0,1 on the one software adapter: two GPU slots pinned to it, the second sharing it, said so", async () => {
    const plan = await planSlots({ TRAINYARD_GPUS: "0,1", TRAINYARD_CPU_SLOTS: 1, TRAINYARD_BACKEND: "webgpu" }, env);
    expect(plan.slots.map((slot) => [slot.device, slot.gpu, slot.env.CUDA_VISIBLE_DEVICES])).toEqual([
      ["gpu:0", "0", "0"],
      ["gpu:1", "1", "1"],
    ]);
    for (const slot of plan.slots) {
      expect(slot.name).toMatch(/llvmpipe/);
      expect(slot.env[ADAPTER_ENV]).toBe(slot.name);
    }
    expect(plan.warnings).toEqual([expect.stringMatching(/TRAINYARD_GPUS lists GPU 1 but dawn found 1: gpu:1 shares "llvmpipe/)]);
  });

  it("webgpu without TRAINYARD_GPUS: one slot on the software adapter; auto and wasm: CPU slots", async () => {
    const webgpu = await planSlots({ TRAINYARD_CPU_SLOTS: 2, TRAINYARD_BACKEND: "webgpu" }, env);
    expect(webgpu.slots.map((slot) => slot.device)).toEqual(["gpu:0"]);
    expect(webgpu.source).toBe("dawn");
    const auto = await planSlots({ TRAINYARD_CPU_SLOTS: 2, TRAINYARD_BACKEND: "auto" }, env);
    expect(auto.slots.map((slot) => [slot.device, slot.name, slot.env])).toEqual([
      ["cpu:0", "CPU", { CUDA_VISIBLE_DEVICES: "" }],
      ["cpu:1", "CPU", { CUDA_VISIBLE_DEVICES: "" }],
    ]);
    const wasm = await planSlots({ TRAINYARD_CPU_SLOTS: 1, TRAINYARD_BACKEND: "wasm" }, env);
    expect(wasm.source).toBe("none");
  });

  it("two same-named adapters without a PCI address cannot be pinned apart, and the plan says so", async () => {
    const plan = await planSlots({ TRAINYARD_CPU_SLOTS: 1, TRAINYARD_BACKEND: "webgpu" }, twoEnv);
    expect(plan.slots.map((slot) => slot.device)).toEqual(["gpu:0", "gpu:1"]);
    expect(plan.slots.every((slot) => slot.env.DRI_PRIME === undefined)).toBe(true);
    expect(plan.warnings).toHaveLength(2);
    expect(plan.warnings[0]).toMatch(/same name as another GPU and its PCI address is not known/);
  });

  it("same-named GPUs with PCI addresses are pinned by Mesa's device select; distinct names by Dawn's adapter name", () => {
    const h100 = (index: string, pci: string) => ({ index, name: "NVIDIA H100 80GB HBM3", pci, software: false });
    const gpus = [
      h100("0", "0000:41:00.0"),
      h100("1", "0000:c1:00.0"),
      { index: "2", name: "NVIDIA L4", pci: "0000:e1:00.0", software: false },
    ];
    const names = gpus.map((gpu) => gpu.name);
    const pinned = dawnPins(gpus, names, true);
    expect(pinned.env).toEqual([
      { [ADAPTER_ENV]: "NVIDIA H100 80GB HBM3", DRI_PRIME: "pci-0000_41_00_0!" },
      { [ADAPTER_ENV]: "NVIDIA H100 80GB HBM3", DRI_PRIME: "pci-0000_c1_00_0!" },
      { [ADAPTER_ENV]: "NVIDIA L4" },
    ]);
    expect(pinned.warnings).toEqual([]);
    // Without Mesa's layer there is nothing to tell the two H100s apart.
    expect(dawnPins(gpus, names, false).warnings).toHaveLength(2);
    // A GPU Dawn does not list (no Vulkan driver for it) gets no Dawn pin.
    expect(dawnPins(gpus, ["NVIDIA L4"], true).env[0]).toEqual({});
  });

  it("rejects a GPU listed twice", async () => {
    await expect(planSlots({ TRAINYARD_GPUS: "0,0", TRAINYARD_CPU_SLOTS: 1, TRAINYARD_BACKEND: "wasm" }, env)).rejects.toThrow(
      /TRAINYARD_GPUS lists a GPU twice/,
    );
  });
});
