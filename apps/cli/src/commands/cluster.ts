import type { Command } from "commander";
import { dataOf } from "@trainyard/client";
import { connect } from "../connection.ts";
import { printJson, printTable } from "../output.ts";

/** `trainyard workers` and `trainyard queue`: what the service has to train on, and what waits. */
export function registerCluster(program: Command) {
  program
    .command("workers")
    .description("Workers heard from in the last day: host, status, devices and the job each device runs.")
    .option("--json", "print them as JSON")
    .action(async (options: { json?: boolean }, command: Command) => {
      const { client } = connect(command.optsWithGlobals(), process.env);
      const workers = await dataOf(client.GET("/v1/workers"));
      if (options.json) return printJson(workers);
      printTable(
        ["WORKER", "HOST", "PID", "STATUS", "DEVICE", "BACKEND", "JOB", "HEARTBEAT"],
        workers.flatMap((worker) =>
          (worker.devices.length ? worker.devices : [null]).map((device) => [
            worker.id,
            worker.host,
            worker.pid,
            worker.status,
            device ? `${device.id} ${device.name}` : null,
            device?.backend,
            device?.busyWithJob,
            worker.lastHeartbeatAt,
          ]),
        ),
      );
    });

  program
    .command("queue")
    .description("Your jobs by status: queued, running, succeeded, failed, cancelled.")
    .option("--json", "print the counts as JSON")
    .action(async (options: { json?: boolean }, command: Command) => {
      const { client } = connect(command.optsWithGlobals(), process.env);
      const counts = await dataOf(client.GET("/v1/queue"));
      if (options.json) return printJson(counts);
      printTable(
        Object.keys(counts).map((status) => status.toUpperCase()),
        [Object.values(counts)],
      );
    });
}
