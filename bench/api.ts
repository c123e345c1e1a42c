/**
 * The API under load (issue 13): autocannon over loopback against the real API (its own process,
 * on PostgreSQL and Redis, LOG_LEVEL=warn, rate limit and per-tenant caps lifted) and a bare
 * Fastify route in the same run, printed as one table:
 *
 *   - GET /v1/jobs/{id}: requests/s as a fraction of the bare route's (target ≥ 0.3), and its
 *     p99 latency at 50 connections (target < 25 ms);
 *   - POST /v1/jobs sustained, jobs/s (target ≥ 1,000) at 20 connections;
 *   - 500 open event streams on queued jobs: the API process's CPU while they are idle (target < 5%).
 *
 * Each row also shows the API process's CPU per request and the round trips it started per
 * request (PostgreSQL queries, Redis commands; counted in bench/apiServer.ts).
 *
 *   npm run bench:api -- [--seconds 10] [--connections 50] [--post-connections 20] [--streams 500] [--profile FILE]
 *
 * Needs PostgreSQL and Redis as the tests do (TRAINYARD_TEST_DATABASE_SERVER, TRAINYARD_TEST_REDIS_URL);
 * a fresh database is created and dropped. A benchmark, not a timed test: numbers depend on the machine.
 */
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { createApiKey } from "@trainyard/api";
import { createDb } from "@trainyard/db";
import { createTestDatabase, TEST_REDIS_URL, uniqueQueuePrefix } from "../tests/helpers/database.ts";
import { deleteQueueKeys } from "../tests/helpers/redis.ts";
import { startServer, stopServer } from "./serverProcess.ts";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    connections: { type: "string", default: "50" },
    "post-connections": { type: "string", default: "20" },
    streams: { type: "string", default: "500" },
    /** Writes a V8 CPU profile of the API process during the load runs to this file (.cpuprofile). */
    profile: { type: "string" },
    /** Runs only these rows (comma-separated: bare, get, post, streams), e.g. to profile one. */
    only: { type: "string", default: "bare,get,post,streams" },
  },
});
const SECONDS = Number(args.seconds);
const CONNECTIONS = Number(args.connections);
const POST_CONNECTIONS = Number(args["post-connections"]);
const STREAMS = Number(args.streams);
const ONLY = new Set(args.only.split(","));
const SKIPPED: Load = { requestsPerSecond: NaN, roundTrips: null, cpuMsPerRequest: NaN, p50: NaN, p99: NaN, non2xx: 0, errors: 0 };
const JOB = { architecture: "lenet", dataset: { name: "synthetic-shapes" }, training: { epochs: 1 } };

interface Load {
  requestsPerSecond: number;
  /** PostgreSQL queries and Redis commands (a pipeline once) the API process started per request. */
  roundTrips: { postgres: number; redis: number } | null;
  /** CPU the measured process spent per request (ms): what the API costs, however busy the machine is. */
  cpuMsPerRequest: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

type RoundTrips = { postgres: number; redis: number };

/** The round trips bench/apiServer.ts counted so far (the bare server counts none). */
async function roundTripsOf(child: ChildProcess): Promise<RoundTrips | null> {
  if (!child.send("round-trips")) return null;
  return new Promise((resolve) => {
    const onMessage = (message: { roundTrips?: RoundTrips }) => {
      if (!message.roundTrips) return;
      child.off("message", onMessage);
      resolve(message.roundTrips);
    };
    child.on("message", onMessage);
    setTimeout(() => {
      child.off("message", onMessage);
      resolve(null);
    }, 1_000).unref();
  });
}

async function load(child: ChildProcess, options: autocannon.Options): Promise<Load> {
  const pid = child.pid!;
  const cpuBefore = cpuSeconds(pid);
  const tripsBefore = await roundTripsOf(child);
  const result = await autocannon({ duration: SECONDS, ...options });
  const tripsAfter = await roundTripsOf(child);
  const per = (before: number, after: number) => (after - before) / result.requests.total;
  return {
    requestsPerSecond: result.requests.average,
    roundTrips:
      tripsBefore && tripsAfter
        ? { postgres: per(tripsBefore.postgres, tripsAfter.postgres), redis: per(tripsBefore.redis, tripsAfter.redis) }
        : null,
    cpuMsPerRequest: ((cpuSeconds(pid) - cpuBefore) * 1000) / result.requests.total,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

/** User plus system CPU seconds of a process, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  // After the command: state is field 3, utime 14, stime 15 (1-based) → indexes 11 and 12 here.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Opens `count` event streams, each answered with its headers before the next opens. */
async function openStreams(port: number, key: string, jobIds: string[], count: number) {
  const open: { destroy: () => void }[] = [];
  for (let i = 0; i < count; i += 1) {
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(
        { host: "127.0.0.1", port, path: `/v1/jobs/${jobIds[i % jobIds.length]}/events`, headers: { authorization: `Bearer ${key}` } },
        (response) => {
          if (response.statusCode !== 200) reject(new Error(`event stream ${i}: ${response.statusCode}`));
          response.resume();
          resolve();
        },
      );
      req.on("error", reject);
      req.end();
      open.push({ destroy: () => req.destroy() });
    });
  }
  return open;
}

const database = await createTestDatabase();
const queuePrefix = uniqueQueuePrefix();
const dataDir = await mkdtemp(join(tmpdir(), "trainyard-bench-api-"));
const children: ChildProcess[] = [];
try {
  const db = createDb(database.url);
  const { key } = await createApiKey(db, "bench");
  await db.$disconnect();
  const env = {
    ...process.env,
    DATABASE_URL: database.url,
    REDIS_URL: TEST_REDIS_URL,
    PORT: "0",
    LOG_LEVEL: "warn",
    TRAINYARD_QUEUE_PREFIX: queuePrefix,
    TRAINYARD_DATA_DIR: dataDir,
    TRAINYARD_RATE_LIMIT_PER_MINUTE: "100000000",
    // 0: no cap (a count of queued jobs per submit would grow with the run).
    TRAINYARD_MAX_QUEUED_JOBS_PER_TENANT: "0",
    TRAINYARD_MAX_EVENT_STREAMS_PER_KEY: String(STREAMS + 10),
  };
  const bare = await startServer("./apiBare.ts", env);
  const api = await startServer("./apiServer.ts", { ...env, ...(args.profile ? { TRAINYARD_BENCH_PROFILE: args.profile } : {}) });
  children.push(bare.child, api.child);
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  const base = `http://127.0.0.1:${api.port}`;
  const created = await fetch(`${base}/v1/jobs`, { method: "POST", headers, body: JSON.stringify(JOB) });
  if (created.status !== 202) throw new Error(`POST /v1/jobs answered ${created.status}: ${await created.text()}`);
  const jobId = ((await created.json()) as { id: string }).id;

  // Warm-up: JIT, connection pools, caches.
  await autocannon({ url: `http://127.0.0.1:${bare.port}/bare/${jobId}`, connections: 10, duration: 2 });
  await autocannon({ url: `${base}/v1/jobs/${jobId}`, headers, connections: 10, duration: 2 });

  const bareRun = ONLY.has("bare")
    ? await load(bare.child, { url: `http://127.0.0.1:${bare.port}/bare/${jobId}`, connections: CONNECTIONS })
    : SKIPPED;
  const getRun = ONLY.has("get") ? await load(api.child, { url: `${base}/v1/jobs/${jobId}`, headers, connections: CONNECTIONS }) : SKIPPED;
  const postRun = ONLY.has("post")
    ? await load(api.child, {
        url: `${base}/v1/jobs`,
        method: "POST",
        headers,
        body: JSON.stringify(JOB),
        connections: POST_CONNECTIONS,
      })
    : SKIPPED;

  if (args.profile) {
    const written = new Promise((resolve) => api.child.once("message", resolve));
    api.child.send("profile");
    await written;
  }

  const jobIds = [jobId];
  for (let i = 0; i < 9; i += 1) {
    const response = await fetch(`${base}/v1/jobs`, { method: "POST", headers, body: JSON.stringify(JOB) });
    jobIds.push(((await response.json()) as { id: string }).id);
  }
  const streams = ONLY.has("streams") ? await openStreams(api.port, key, jobIds, STREAMS) : [];
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const cpuBefore = cpuSeconds(api.child.pid!);
  const idleStarted = Date.now();
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
  const idleCpu = (cpuSeconds(api.child.pid!) - cpuBefore) / ((Date.now() - idleStarted) / 1000);
  for (const stream of streams) stream.destroy();

  const ratio = getRun.requestsPerSecond / bareRun.requestsPerSecond;
  const trips = (run: Load) => (run.roundTrips ? `pg ${run.roundTrips.postgres.toFixed(2)}, redis ${run.roundTrips.redis.toFixed(2)}` : "");
  const rows: [string, string, string, string, string, string][] = [
    [
      "bare Fastify route",
      `${Math.round(bareRun.requestsPerSecond)} req/s`,
      `p50 ${bareRun.p50} ms, p99 ${bareRun.p99} ms`,
      `${bareRun.cpuMsPerRequest.toFixed(3)} ms`,
      "",
      "",
    ],
    [
      "GET /v1/jobs/{id}",
      `${Math.round(getRun.requestsPerSecond)} req/s (${ratio.toFixed(2)}× bare)`,
      `p50 ${getRun.p50} ms, p99 ${getRun.p99} ms`,
      `${getRun.cpuMsPerRequest.toFixed(3)} ms`,
      trips(getRun),
      `≥ 0.3× ${ratio >= 0.3 ? "✓" : "✗"}; p99 < 25 ms ${getRun.p99 < 25 ? "✓" : "✗"}`,
    ],
    [
      `POST /v1/jobs (${POST_CONNECTIONS} conn.)`,
      `${Math.round(postRun.requestsPerSecond)} jobs/s`,
      `p50 ${postRun.p50} ms, p99 ${postRun.p99} ms`,
      `${postRun.cpuMsPerRequest.toFixed(3)} ms`,
      trips(postRun),
      `≥ 1,000 jobs/s ${postRun.requestsPerSecond >= 1000 ? "✓" : "✗"}`,
    ],
    [`${STREAMS} open event streams, idle`, `API CPU ${(idleCpu * 100).toFixed(1)}%`, "", "", "", `< 5% ${idleCpu < 0.05 ? "✓" : "✗"}`],
  ];
  const failures = [bareRun, getRun, postRun].filter((run) => run.non2xx > 0 || run.errors > 0);
  const header = ["", "throughput", "latency", "CPU / request", "round trips / request", "target"];
  const widths = header.map((title, i) => Math.max(...rows.map((row) => row[i].length), title.length));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i])).join(" | ")} |`;
  console.log(
    `\nbench:api — ${SECONDS} s per run, ${CONNECTIONS} connections, loopback; load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores\n`,
  );
  console.log(line(header));
  console.log(`|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`);
  for (const row of rows) console.log(line(row));
  if (failures.length > 0) {
    console.log(`\nnon-2xx or errors: ${[bareRun, getRun, postRun].map((run) => `${run.non2xx}/${run.errors}`).join(", ")}`);
  }
} finally {
  for (const child of children) await stopServer(child);
  await deleteQueueKeys(queuePrefix);
  await database.drop();
  await rm(dataDir, { recursive: true, force: true });
}
