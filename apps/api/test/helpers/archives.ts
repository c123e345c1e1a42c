import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import sharp from "sharp";
import yazl from "yazl";

export interface ArchiveEntry {
  name: string;
  data: Buffer;
}

/** A PNG filled with one value: grey (1 channel) for a number, colour for [r, g, b]. */
export async function solidPng(width: number, height: number, fill: number | [number, number, number]): Promise<Buffer> {
  const channels = typeof fill === "number" ? 1 : 3;
  const pixels = Buffer.alloc(width * height * channels);
  for (let i = 0; i < pixels.length; i += 1) pixels[i] = typeof fill === "number" ? fill : fill[i % 3];
  const image = sharp(pixels, { raw: { width, height, channels } });
  return (channels === 1 ? image.toColourspace("b-w") : image).png().toBuffer();
}

export async function zip(entries: ArchiveEntry[]): Promise<Buffer> {
  const file = new yazl.ZipFile();
  for (const entry of entries) file.addBuffer(entry.data, entry.name);
  file.end();
  const chunks: Buffer[] = [];
  for await (const chunk of file.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** yazl refuses "../" names, so a hostile one is written over a placeholder of the same length. */
export function renameInZip(archive: Buffer, from: string, to: string): Buffer {
  if (from.length !== to.length) throw new Error("names must have the same length");
  return Buffer.from(archive.toString("latin1").split(from).join(to), "latin1");
}

/** A ustar entry written by hand, so tests can make entries no archiver would (e.g. "../x"). */
function tarEntry({ name, data }: ArchiveEntry, type = "0"): Buffer {
  const header = Buffer.alloc(512);
  const octal = (value: number, width: number) => `${value.toString(8).padStart(width - 1, "0")}\0`;
  header.write(name, 0, 100, "utf8");
  header.write(octal(0o644, 8), 100);
  header.write(octal(0, 8), 108);
  header.write(octal(0, 8), 116);
  header.write(octal(data.length, 12), 124);
  header.write(octal(0, 12), 136);
  header.fill(" ", 148, 156);
  header.write(type, 156);
  header.write("ustar\u000000", 257);
  header.write(
    octal(
      header.reduce((sum, byte) => sum + byte, 0),
      7,
    ),
    148,
  );
  return Buffer.concat([header, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

export function tarGz(entries: ArchiveEntry[]): Buffer {
  return gzipSync(Buffer.concat([...entries.map((entry) => tarEntry(entry)), Buffer.alloc(1024)]));
}

/** A multipart/form-data body as a browser or curl would send it. */
export function multipartBody(fields: Record<string, string>, file?: { field?: string; filename: string; data: Buffer }) {
  const boundary = `----trainyard${randomBytes(8).toString("hex")}`;
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  if (file) {
    parts.push(
      Buffer.from(
        `--${boundary}\r\ncontent-disposition: form-data; name="${file.field ?? "file"}"; filename="${file.filename}"\r\n` +
          "content-type: application/octet-stream\r\n\r\n",
      ),
      file.data,
      Buffer.from("\r\n"),
    );
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { "content-type": `multipart/form-data; boundary=${boundary}` } };
}
