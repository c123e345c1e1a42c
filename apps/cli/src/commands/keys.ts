import type { Command } from "commander";
import { dataOf } from "@trainyard/client";
import { connect } from "../connection.ts";
import { withDefaults } from "../env.ts";
import { printJson, printTable } from "../output.ts";

interface KeyView {
  id: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** The operator's path for a tenant's first key: straight into the database (DATABASE_URL), no API key needed. */
async function createThroughDatabase(tenant: string, name: string): Promise<void> {
  const [{ createApiKey }, { applyMigrations, createDb, ensureDatabase }] = await Promise.all([
    import("@trainyard/api"),
    import("@trainyard/db"),
  ]);
  const env = withDefaults(process.env);
  await ensureDatabase(env.DATABASE_URL!);
  await applyMigrations(env.DATABASE_URL!);
  const db = createDb(env.DATABASE_URL!);
  try {
    const { tenantId, key } = await createApiKey(db, tenant, name);
    console.error(`tenant ${tenant} (${tenantId}); the key is shown once:`);
    console.log(key);
  } finally {
    await db.$disconnect();
  }
}

export function registerKeys(program: Command) {
  const keys = program.command("keys").summary("create, list and revoke API keys");

  keys
    .command("create")
    .description(
      "A new API key of your tenant, through the API; the secret is printed once (last line on stdout).\n" +
        "With --tenant: the operator's path, straight into the database (DATABASE_URL), for a tenant's first key.",
    )
    .option("--name <name>", "what the key is for, e.g. ci", "default")
    .option("--tenant <tenant>", "operator: create the tenant if needed and a key for it in the database")
    .option("--json", "print the key (with its secret) as JSON")
    .action(async (options: { name: string; tenant?: string; json?: boolean }, command: Command) => {
      if (options.tenant) return createThroughDatabase(options.tenant, options.name);
      const { client } = connect(command.optsWithGlobals(), process.env);
      const created = (await dataOf(client.POST("/v1/keys", { body: { name: options.name } }))) as KeyView & { key: string };
      if (options.json) return printJson(created);
      console.error(`key ${created.id} (${created.name}); the secret is shown once:`);
      console.log(created.key);
    });

  keys
    .command("list")
    .description("Your tenant's keys (never a secret): id, name, prefix, created, last used, revoked.")
    .option("--json", "print them as JSON")
    .action(async (options: { json?: boolean }, command: Command) => {
      const { client } = connect(command.optsWithGlobals(), process.env);
      const page = (await dataOf(client.GET("/v1/keys"))) as { items: KeyView[] };
      if (options.json) return printJson(page);
      printTable(
        ["ID", "NAME", "PREFIX", "CREATED", "LAST USED", "REVOKED"],
        page.items.map((key) => [key.id, key.name, key.prefix, key.createdAt, key.lastUsedAt, key.revokedAt]),
      );
    });

  keys
    .command("revoke")
    .description("Revokes a key: it answers 401 from the next request on, in every API process.")
    .argument("<id>", "the key's id (keys list)")
    .action(async (id: string, _options: object, command: Command) => {
      const { client } = connect(command.optsWithGlobals(), process.env);
      await dataOf(client.DELETE("/v1/keys/{id}", { params: { path: { id } } }));
      console.log(`revoked key ${id}`);
    });
}
