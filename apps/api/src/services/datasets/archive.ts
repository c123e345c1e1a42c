import { createReadStream, createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar";
import yauzl from "yauzl";
import { DatasetError, formatBytes } from "./errors.ts";

export type ArchiveKind = "zip" | "tar.gz";

export interface ExtractLimits {
  /** Bytes the archive may unpack to, counted as written (headers can lie). */
  extractedBytes: number;
  /** Files it may hold. */
  files: number;
}

export function archiveKind(filename: string): ArchiveKind | null {
  const lower = filename.toLowerCase();
  if (lower.endsWith(".zip")) return "zip";
  if (lower.endsWith(".tar.gz") || lower.endsWith(".tgz")) return "tar.gz";
  return null;
}

/** Litter that archivers add and no data set means: resource forks, Finder and Explorer files, dotfiles. */
const isLitter = (part: string) => part === "__MACOSX" || part.startsWith(".") || part === "Thumbs.db" || part === "desktop.ini";

/** The entry's path relative to the archive root; null for entries to skip; throws for paths that leave it. */
export function safeEntryPath(raw: string): string | null {
  const path = raw.replace(/\\/g, "/");
  if (path.startsWith("/") || /^[a-zA-Z]:/.test(path)) throw new DatasetError(`archive entry "${raw}" has an absolute path`);
  if (/\p{Cc}/u.test(path)) throw new DatasetError(`archive entry "${raw}" has control characters in its name`);
  const parts = path.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) throw new DatasetError(`archive entry "${raw}" points outside the archive`);
  if (parts.length === 0 || parts.some(isLitter)) return null;
  return parts.join("/");
}

/** Writes the files of one archive under `destDir`, enforcing the limits; answers their relative paths. */
class Extraction {
  readonly files: string[] = [];
  private bytes = 0;

  constructor(
    private readonly destDir: string,
    private readonly limits: ExtractLimits,
    private readonly signal: AbortSignal,
  ) {}

  async write(relativePath: string, source: AsyncIterable<Buffer>): Promise<void> {
    this.signal.throwIfAborted();
    if (this.files.length >= this.limits.files) throw new DatasetError(`the archive holds more than ${this.limits.files} files`);
    const target = resolve(this.destDir, relativePath);
    if (!target.startsWith(resolve(this.destDir) + sep))
      throw new DatasetError(`archive entry "${relativePath}" points outside the archive`);
    await mkdir(dirname(target), { recursive: true });
    const count = new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        this.bytes += chunk.length;
        if (this.bytes > this.limits.extractedBytes) {
          done(new DatasetError(`the archive unpacks to more than ${formatBytes(this.limits.extractedBytes)}`));
        } else done(null, chunk);
      },
    });
    try {
      // "wx": a second entry with the same name is an error, never a silent overwrite.
      await pipeline(source, count, createWriteStream(target, { flags: "wx" }), { signal: this.signal });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") throw new DatasetError(`the archive holds "${relativePath}" twice`);
      throw error;
    }
    this.files.push(relativePath);
  }
}

/** Errors of the archive's own data (bad CRC, wrong sizes) are the upload's fault; disk errors are ours. */
function asDamaged(name: string, error: NodeJS.ErrnoException): Error {
  if (error instanceof DatasetError || error.name === "AbortError" || error.syscall) return error;
  return new DatasetError(`archive entry "${name}" is damaged (${error.message})`);
}

const isSymlink = (entry: yauzl.Entry) => ((entry.externalFileAttributes >>> 16) & 0o170000) === 0o120000;

async function extractZip(archivePath: string, extraction: Extraction): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(archivePath, { lazyEntries: true, decodeStrings: true, validateEntrySizes: true });
  } catch (error) {
    throw new DatasetError(`the file is not a readable zip archive (${(error as Error).message})`);
  }
  try {
    await new Promise<void>((resolvePromise, reject) => {
      const fail = (error: Error) => {
        // yauzl rejects "../x" and "/x" names itself, before we see the entry.
        const unsafe = /^(absolute path|invalid relative path): (.*)$/.exec(error.message);
        reject(unsafe ? new DatasetError(`archive entry "${unsafe[2]}" points outside the archive`) : error);
      };
      zip.on("error", fail);
      zip.on("end", () => resolvePromise());
      zip.on("entry", (entry: yauzl.Entry) => {
        const handle = async () => {
          if (entry.fileName.endsWith("/")) return;
          if (isSymlink(entry)) throw new DatasetError(`archive entry "${entry.fileName}" is a symbolic link; links are not allowed`);
          const path = safeEntryPath(entry.fileName);
          if (!path) return;
          if (entry.isEncrypted()) throw new DatasetError(`archive entry "${entry.fileName}" is encrypted`);
          try {
            await extraction.write(path, await zip.openReadStreamPromise(entry));
          } catch (error) {
            throw asDamaged(entry.fileName, error as NodeJS.ErrnoException);
          }
        };
        handle().then(() => zip.readEntry(), fail);
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
}

const TAR_FILE_TYPES = new Set(["File", "OldFile", "ContiguousFile"]);

async function writeTarEntry(entry: tar.ReadEntry, extraction: Extraction): Promise<void> {
  if (entry.type === "SymbolicLink" || entry.type === "Link") {
    throw new DatasetError(`archive entry "${entry.path}" is a link; links are not allowed`);
  }
  const path = TAR_FILE_TYPES.has(entry.type) ? safeEntryPath(entry.path) : null;
  if (path) await extraction.write(path, entry);
  else entry.resume();
}

async function extractTarGz(archivePath: string, extraction: Extraction): Promise<void> {
  const parser = new tar.Parse({ strict: true });
  let failure: Error | null = null;
  // The parser emits the next entry only once this one is consumed; a failed entry is drained.
  let previous = Promise.resolve();
  parser.on("entry", (entry) => {
    previous = previous
      .then(() => (failure ? void entry.resume() : writeTarEntry(entry, extraction)))
      .catch((error: Error) => {
        failure ??= error;
        entry.resume();
      });
  });
  const parsed = new Promise<void>((resolvePromise, reject) => {
    parser.on("end", resolvePromise);
    parser.on("error", (error) => reject(new DatasetError(`the file is not a readable .tar.gz archive (${error.message})`)));
  });
  parsed.catch(() => undefined);
  for await (const chunk of createReadStream(archivePath)) {
    if (failure) break;
    if (!parser.write(chunk as Buffer)) await Promise.race([new Promise<void>((drained) => parser.once("drain", () => drained())), parsed]);
  }
  parser.end();
  await parsed.catch((error: Error) => {
    if (!failure) throw error;
  });
  await previous;
  if (failure) throw failure;
}

/** Unpacks an upload without trusting it: no paths outside destDir, no links, bounded size and file count. */
export async function extractArchive(
  archivePath: string,
  kind: ArchiveKind,
  destDir: string,
  limits: ExtractLimits,
  signal: AbortSignal,
): Promise<string[]> {
  await mkdir(destDir, { recursive: true });
  const extraction = new Extraction(destDir, limits, signal);
  await (kind === "zip" ? extractZip(archivePath, extraction) : extractTarGz(archivePath, extraction));
  return extraction.files;
}
