import type { Db } from "@trainyard/db";
import { WORKER_TIMINGS } from "@trainyard/shared";

/** Workers silent for a day are left out of the list: they are gone, not merely lost. */
export const FORGET_AFTER_MS = 24 * 3600 * 1000;

interface StoredDevice {
  id: string;
  name: string;
  backend: string | null;
  busyWithJob: string | null;
}

function storedDevices(value: unknown): StoredDevice[] {
  return Array.isArray(value) ? (value as StoredDevice[]) : [];
}

/**
 * The most GPU slots one worker has, over the workers seen in the last day (lost and stopped ones
 * too: they may come back), or null when no worker has registered yet. A job asking for more
 * devices than this cannot be taken by any worker known to the service (training.devices).
 */
export async function mostGpuSlots(db: Db, now = new Date()): Promise<number | null> {
  const workers = await db.worker.findMany({
    where: { lastHeartbeatAt: { gte: new Date(now.getTime() - FORGET_AFTER_MS) } },
    select: { devices: true },
  });
  if (workers.length === 0) return null;
  return Math.max(...workers.map((worker) => storedDevices(worker.devices).filter((device) => device.id.startsWith("gpu:")).length));
}

export function createWorkerService({ db, now = () => new Date() }: { db: Db; now?: () => Date }) {
  return {
    /** Every recent worker; a device's job id is shown only to the tenant that owns the job. */
    async list(tenantId: string) {
      const at = now().getTime();
      const workers = await db.worker.findMany({
        where: { lastHeartbeatAt: { gte: new Date(at - FORGET_AFTER_MS) } },
        orderBy: [{ startedAt: "asc" }, { id: "asc" }],
      });
      const busyJobIds = workers.flatMap((worker) => storedDevices(worker.devices).flatMap((device) => device.busyWithJob ?? []));
      const ownJobs = busyJobIds.length ? await db.job.findMany({ where: { id: { in: busyJobIds }, tenantId }, select: { id: true } }) : [];
      const own = new Set(ownJobs.map((job) => job.id));
      return workers.map((worker) => {
        const silent = at - worker.lastHeartbeatAt.getTime() > WORKER_TIMINGS.lostAfterMs;
        return {
          id: worker.id,
          host: worker.host,
          pid: worker.pid,
          devices: storedDevices(worker.devices).map((device) => ({
            id: device.id,
            name: device.name,
            backend: device.backend ?? null,
            busyWithJob: device.busyWithJob && own.has(device.busyWithJob) ? device.busyWithJob : null,
          })),
          lastHeartbeatAt: worker.lastHeartbeatAt.toISOString(),
          status: silent && worker.status !== "stopped" ? "lost" : worker.status,
        };
      });
    },
  };
}

export type WorkerService = ReturnType<typeof createWorkerService>;
