import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { dataOf } from "@trainyard/client";
import type { Connection } from "./connection.ts";

/** Where a trained model's files come from: a job's checkpoint or a registered version (the API serves both alike). */
interface ModelFileSource {
  file(name: string, parseAs: "json" | "arrayBuffer"): Promise<unknown>;
  zip(): Promise<unknown>;
}

/** Saves model.json, its weight files and model.zip into a folder; answers the folder's absolute path. */
async function saveModelFiles(source: ModelFileSource, folder: string): Promise<string> {
  const directory = resolve(folder);
  mkdirSync(directory, { recursive: true });
  const modelJson = (await source.file("model.json", "json")) as { weightsManifest: { paths: string[] }[] };
  writeFileSync(join(directory, "model.json"), JSON.stringify(modelJson));
  for (const file of modelJson.weightsManifest.flatMap((group) => group.paths)) {
    writeFileSync(join(directory, file), Buffer.from((await source.file(file, "arrayBuffer")) as ArrayBuffer));
  }
  writeFileSync(join(directory, "model.zip"), Buffer.from((await source.zip()) as ArrayBuffer));
  return directory;
}

/** A job's best (or last) checkpoint, saved into a folder. */
export function downloadJobModel(connection: Connection, jobId: string, folder: string, checkpoint: "best" | "last" = "best") {
  const { client } = connection;
  const query = { checkpoint };
  return saveModelFiles(
    {
      file: (file, parseAs) => dataOf(client.GET("/v1/jobs/{id}/model/{file}", { params: { path: { id: jobId, file }, query }, parseAs })),
      zip: () => dataOf(client.GET("/v1/jobs/{id}/model", { params: { path: { id: jobId }, query }, parseAs: "arrayBuffer" })),
    },
    folder,
  );
}

/** A registered version (`ref`: its number or an alias), saved into a folder. */
export function downloadModelVersion(connection: Connection, name: string, ref: string, folder: string) {
  const { client } = connection;
  return saveModelFiles(
    {
      file: (file, parseAs) =>
        dataOf(client.GET("/v1/models/{name}/versions/{ref}/model/{file}", { params: { path: { name, ref, file } }, parseAs })),
      zip: () => dataOf(client.GET("/v1/models/{name}/versions/{ref}/model", { params: { path: { name, ref } }, parseAs: "arrayBuffer" })),
    },
    folder,
  );
}
