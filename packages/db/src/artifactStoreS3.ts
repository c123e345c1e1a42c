import { Readable } from "node:stream";
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { ArtifactMissingError, hashingStream, verified, type ArtifactStore } from "./artifactStore.ts";

/** Multipart part size: S3's minimum is 5 MiB; two parts in flight bound an upload's memory to ~16 MiB. */
export const S3_PART_BYTES = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 2;

export interface S3ArtifactStoreOptions {
  /** s3://bucket or s3://bucket/prefix */
  url: string;
  /** AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL: MinIO, Ceph, R2, a local emulator… */
  endpoint?: string;
  region?: string;
  /** Bucket in the path instead of the host name; on by default with a custom endpoint. */
  forcePathStyle?: boolean;
  /** Unset: the SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, web identity, instance roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** s3://bucket/prefix → bucket and prefix (no slashes at its ends), or an Error naming what is wrong. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!match) throw new Error(`${url} is not s3://bucket or s3://bucket/prefix (bucket: 3–63 lower-case letters, digits, dots, dashes)`);
  return { bucket: match[1]!, prefix: (match[2] ?? "").replace(/^\/+|\/+$/g, "") };
}

function isMissing(error: unknown): boolean {
  if (error instanceof S3ServiceException) {
    return error.name === "NoSuchKey" || error.name === "NotFound" || error.$metadata.httpStatusCode === 404;
  }
  return false;
}

/** Bytes as objects in an S3-compatible bucket, streamed both ways (multipart upload in, GetObject's body out). */
export function createS3ArtifactStore(options: S3ArtifactStoreOptions): ArtifactStore & { client: S3Client; bucket: string } {
  const name = "s3";
  const { bucket, prefix } = parseS3Url(options.url);
  const client = new S3Client({
    region: options.region ?? "us-east-1",
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });

  return {
    name,
    client,
    bucket,
    keyFor: (artifactId) => (prefix ? `${prefix}/${artifactId}` : artifactId),

    async put(key, body) {
      const { stream, result } = hashingStream();
      body.on("error", (error) => stream.destroy(error));
      const upload = new Upload({
        client,
        params: { Bucket: bucket, Key: key, Body: body.pipe(stream) },
        partSize: S3_PART_BYTES,
        queueSize: PARTS_IN_FLIGHT,
        leavePartsOnError: false,
      });
      await upload.done();
      return result();
    },

    get(key, expected) {
      let body: Readable | null = null;
      let requested = false;
      const raw = new Readable({
        read() {
          if (requested) {
            body?.resume();
            return;
          }
          requested = true;
          client.send(new GetObjectCommand({ Bucket: bucket, Key: key })).then(
            (answer) => {
              body = answer.Body as Readable;
              body.on("data", (chunk: Buffer) => {
                if (!raw.push(chunk)) body?.pause();
              });
              body.on("end", () => raw.push(null));
              body.on("error", (error) => raw.destroy(error));
            },
            (error: unknown) => raw.destroy(isMissing(error) ? new ArtifactMissingError(name, key) : (error as Error)),
          );
        },
        destroy(error, callback) {
          body?.destroy();
          callback(error);
        },
      });
      return verified(name, key, raw, expected);
    },

    async stat(key) {
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return { size: BigInt(head.ContentLength ?? 0) };
      } catch (error) {
        if (isMissing(error)) return null;
        throw error;
      }
    },

    async delete(key) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
  };
}
