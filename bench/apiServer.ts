/** The real API (apps/api) in a process of its own, so that bench:api can measure its CPU apart. */
import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { Pipeline, Redis } from "ioredis";
import pg from "pg";
import { startApi } from "@trainyard/api";

/**
 * Round trips this process starts, for bench:api's "round trips / request": PostgreSQL queries
 * (Prisma's BEGIN and COMMIT each count) and Redis commands, a pipeline or MULTI counting once.
 */
const roundTrips = { postgres: 0, redis: 0 };
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  roundTrips.postgres += 1;
  return (query as (...rest: unknown[]) => unknown).apply(this, args);
} as typeof query;
const sendCommand = Redis.prototype.sendCommand;
Redis.prototype.sendCommand = function (this: Redis, ...args: Parameters<typeof sendCommand>) {
  // A second argument is the stream a pipeline writes its commands to: the pipeline is counted once, in exec.
  if (args[1] === undefined) roundTrips.redis += 1;
  return sendCommand.apply(this, args);
};
const exec = Pipeline.prototype.exec;
Pipeline.prototype.exec = function (this: Pipeline, ...args: Parameters<typeof exec>) {
  roundTrips.redis += 1;
  return exec.apply(this, args);
};

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
  if (message === "round-trips") {
    process.send?.({ roundTrips });
    return;
  }
  if (message !== "profile" || !session) return;
  const { profile } = await session.post("Profiler.stop");
  await writeFile(profileTo!, JSON.stringify(profile));
  process.send?.("profiled");
});
process.send?.({ port: (server.server.address() as { port: number }).port });
