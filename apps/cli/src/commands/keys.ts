import { createApiKey } from "@trainyard/api";
import { applyMigrations, createDb, ensureDatabase } from "@trainyard/db";
import { parseOptions, UsageError } from "../args.ts";

export async function keysCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [action, ...rest] = argv;
  if (action !== "create") throw new UsageError("usage: trainyard keys create --tenant NAME");
  const options = parseOptions(rest, { tenant: { type: "string" } });
  if (!options.tenant) throw new UsageError("--tenant NAME is required");
  await ensureDatabase(env.DATABASE_URL!);
  await applyMigrations(env.DATABASE_URL!);
  const db = createDb(env.DATABASE_URL!);
  try {
    const { tenantId, key } = await createApiKey(db, options.tenant);
    console.error(`tenant ${options.tenant} (${tenantId}); the key is shown once:`);
    console.log(key);
  } finally {
    await db.$disconnect();
  }
  return 0;
}
