/** `npm run client:generate`: writes src/schema.d.ts from the API's OpenAPI document. */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { fetchOpenApiDocument, SCHEMA_FILE, schemaSourceOf } from "./schemaSource.ts";

writeFileSync(SCHEMA_FILE, await schemaSourceOf(await fetchOpenApiDocument()));
console.log(`wrote ${fileURLToPath(SCHEMA_FILE)}`);
