// The WebGPU adapters Dawn (npm `webgpu`) sees on this machine, one line each: Dawn's backend and
// adapter name, then what the adapter says of itself (vendor, architecture, description) and
// whether it is a software one (Mesa llvmpipe/lavapipe, SwiftShader). Exit code 1 when Dawn
// offers no adapter. Used by scripts/gpu-check.sh; `node scripts/webgpuAdapters.mjs`.
//
// Dawn lists its adapters when asked for an adapter name that matches none (the package's
// documented way); each listed name is then opened in a Dawn instance of its own.
process.env.XDG_RUNTIME_DIR ??= "/tmp";

let webgpu;
try {
  webgpu = await import("webgpu");
} catch (error) {
  console.log(`the npm package "webgpu" (Dawn) is not installed or does not load: ${error.message.split("\n")[0]}`);
  process.exit(1);
}

function listed() {
  return webgpu
    .create(["adapter=gpu-check-lists-adapters"])
    .requestAdapter()
    .then(
      () => [],
      (error) =>
        [...String(error.message).matchAll(/\*\s*backend:\s*'([^']*)',\s*name:\s*'([^']*)'/g)].map((m) => ({ backend: m[1], name: m[2] })),
    );
}

const software = (info) => /\b(software|llvmpipe|lavapipe|swiftshader)\b/i.test(`${info.architecture} ${info.description} ${info.device}`);

const adapters = await listed();
if (adapters.length === 0) {
  console.log("Dawn lists no adapter: no Vulkan driver it accepts (a GPU's Vulkan driver, or Mesa >= 23 llvmpipe for a software one)");
  process.exit(1);
}
for (const { backend, name } of adapters) {
  let detail;
  try {
    const adapter = await webgpu.create([`adapter=${name}`]).requestAdapter({ powerPreference: "high-performance" });
    const info = adapter?.info ?? {};
    detail = adapter
      ? `vendor "${info.vendor}", architecture "${info.architecture}", "${info.description}"${software(info) ? " — software (the CPU)" : " — hardware"}`
      : "Dawn lists it but gives no adapter for it";
  } catch (error) {
    detail = `cannot be opened: ${String(error.message).split("\n")[0]}`;
  }
  console.log(`${backend}: ${name}: ${detail}`);
}
// Dawn instances keep the process alive.
process.exit(0);
