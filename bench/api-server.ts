/** The real API (apps/api) in a process of its own, so that bench:api can measure its CPU apart. */
import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { startApi } from "@trainyard/api";

const server = await startApi(process.env);
// bench:api --profile: a V8 CPU profile from now until the parent asks for it.
const profileTo = process.env.TRAINYARD_BENCH_PROFILE;
const session = profileTo ? new Session() : null;
if (session) {
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 200 });
  await session.post("Profiler.start");
}
process.on("message", async (message: string) => {
  if (message !== "profile" || !session) return;
  const { profile } = await session.post("Profiler.stop");
  await writeFile(profileTo!, JSON.stringify(profile));
  process.send?.("profiled");
});
process.send?.({ port: (server.server.address() as { port: number }).port });
