// Container healthchecks (compose `healthcheck`, the images' HEALTHCHECK), plain Node so that each probe
// starts in well under a second:
//   node docker/healthcheck.mjs api      GET /healthz on this container's $PORT answers 200
//   node docker/healthcheck.mjs worker   a worker on this host heartbeat as active within the last 45 s
// Exit 0 when healthy, 1 (with one line saying why) when not.
/* global fetch, AbortSignal */
import { hostname } from "node:os";
import process from "node:process";
import pg from "pg";

/** Fifteen heartbeats (every 3 s): a worker whose event loop or database link is stuck misses them all, a short PostgreSQL pause does not. */
const HEARTBEAT_STALE_SECONDS = 45;

async function apiHealthy() {
  const port = process.env.PORT ?? "8080";
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(4000) });
  if (!response.ok) throw new Error(`GET /healthz on port ${port} answered ${response.status}`);
}

async function workerHealthy() {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT id FROM "Worker" WHERE host = $1 AND status = 'active' AND "lastHeartbeatAt" > now() - make_interval(secs => $2)`,
      [hostname(), HEARTBEAT_STALE_SECONDS],
    );
    if (rows.length === 0) throw new Error(`no active worker on ${hostname()} heartbeat in the last ${HEARTBEAT_STALE_SECONDS} s`);
  } finally {
    await client.end();
  }
}

const checks = { api: apiHealthy, worker: workerHealthy };
const check = checks[process.argv[2]];
if (!check) {
  console.error(`usage: node docker/healthcheck.mjs ${Object.keys(checks).join("|")}`);
  process.exit(2);
}
try {
  await check();
} catch (error) {
  console.error(`unhealthy: ${error.message}`);
  process.exit(1);
}
