import { fileURLToPath } from "node:url";
import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from "openapi-typescript";
import { format, resolveConfig } from "prettier";
import { buildServer, loadApiConfig } from "@trainyard/api";
import { createTestDatabase, TEST_REDIS_URL, uniqueQueuePrefix } from "../../../tests/helpers/database.ts";

/** Where the generated types live (committed: the CLI and outside users type-check against them). */
export const SCHEMA_FILE = new URL("../src/schema.d.ts", import.meta.url);

/** The API's OpenAPI document, from the app built in this process on a throwaway database. */
export async function fetchOpenApiDocument(): Promise<OpenAPI3> {
  const database = await createTestDatabase();
  const app = await buildServer(
    loadApiConfig({
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      LOG_LEVEL: "silent",
      TRAINYARD_QUEUE_PREFIX: uniqueQueuePrefix(),
    }),
  );
  try {
    const response = await app.inject({ method: "GET", url: "/openapi.json" });
    if (response.statusCode !== 200) throw new Error(`GET /openapi.json answered ${response.statusCode}`);
    return response.json() as OpenAPI3;
  } finally {
    await app.close();
    await database.drop();
  }
}

/** The TypeScript source of src/schema.d.ts for an OpenAPI document, formatted as the repository's other files. */
export async function schemaSourceOf(document: OpenAPI3): Promise<string> {
  const nodes = await openapiTS(document, { alphabetize: true });
  const source = `${COMMENT_HEADER}// Regenerate with \`npm run client:generate\` after changing a route.\n\n${astToString(nodes)}`;
  const filepath = fileURLToPath(SCHEMA_FILE);
  return format(source, { ...(await resolveConfig(filepath)), filepath });
}
