import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./processes.ts";

/** The part of s3rver (an S3 emulator on npm, no type declarations) the tests use. */
interface S3rverServer {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverClass = new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  configureBuckets: { name: string }[];
}) => S3rverServer;

export interface S3Server {
  /** http://127.0.0.1:<port>, for AWS_ENDPOINT_URL. */
  endpoint: string;
  bucket: string;
  /** s3rver's own credentials (it checks signatures). */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The file s3rver keeps an object's bytes in, to corrupt it from outside. */
  objectFile: (key: string) => string;
  /** The variables an API or worker process takes to use this server. */
  env: (prefix: string) => Record<string, string>;
  stop: () => Promise<void>;
}

/** s3rver on a free port over a temporary directory, with one bucket. */
export async function startS3Server(bucket = "trainyard-test"): Promise<S3Server> {
  const S3rver = createRequire(import.meta.url)("s3rver") as S3rverClass;
  const directory = await mkdtemp(join(tmpdir(), "trainyard-s3-"));
  const port = await freePort();
  const server = new S3rver({ address: "127.0.0.1", port, directory, silent: true, configureBuckets: [{ name: bucket }] });
  await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const credentials = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
  return {
    endpoint,
    bucket,
    credentials,
    // s3rver's layout: <dir>/<bucket>/<key folders>/<last part>._S3rver_object
    objectFile: (key) => {
      const parts = key.split("/");
      const last = parts.pop()!;
      return join(directory, bucket, ...parts, `${last}._S3rver_object`);
    },
    env: (prefix) => ({
      TRAINYARD_ARTIFACTS_URL: `s3://${bucket}/${prefix}`,
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    }),
    stop: async () => {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
