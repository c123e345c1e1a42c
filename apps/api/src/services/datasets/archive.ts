import { createReadStream, createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createInflateRaw } from "node:zlib";
import tar from "tar";
import yauzl from "yauzl";
import { DatasetError, formatBytes } from "./errors.ts";

export type ArchiveKind = "zip" | "tar.gz";

export interface ExtractLimits {
  /** Bytes the archive may unpack to, counted as written (headers can lie). */
  extractedBytes: number;
  /** Files it may hold. */
  files: number;
  /**
   * Once more than `ratioGraceBytes` are unpacked, the unpacked bytes may be at most this many
   * times the compressed bytes read so far: a bomb (deflate reaches ~1000×) stops after the grace.
   */
  maxRatio: number;
  ratioGraceBytes: number;
}

/** The running count of compressed bytes read and bytes unpacked, checked at every chunk. */
class Budget {
  private compressed = 0;
  private unpacked = 0;

  constructor(private readonly limits: ExtractLimits) {}

  read(bytes: number) {
    this.compressed += bytes;
  }

  /** `cap`: what the unpacked stream may reach (a tar stream's headers and skipped entries count too). */
  unpack(bytes: number, cap: number) {
    this.unpacked += bytes;
    if (this.unpacked > cap) throw new DatasetError(`the archive unpacks to more than ${formatBytes(this.limits.extractedBytes)}`);
    if (this.unpacked > this.limits.ratioGraceBytes && this.unpacked > this.compressed * this.limits.maxRatio) {
      throw new DatasetError(
        `the archive unpacks to more than ${this.limits.maxRatio} times its compressed size ` +
          `(${formatBytes(this.unpacked)} from ${formatBytes(this.compressed)}); it looks like a decompression bomb`,
      );
    }
  }
}

/** A pass-through that runs `count` on every chunk; a throw ends the pipeline with that error. */
function counter(count: (bytes: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      try {
        count(chunk.length);
        done(null, chunk);
      } catch (error) {
        done(error as Error);
      }
    },
  });
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

/** stream/promises' pipeline over a list of stages (its overloads cannot type a spread list). */
const pipelineOf = (stages: unknown[], signal: AbortSignal): Promise<void> =>
  (pipeline as unknown as (...args: unknown[]) => Promise<void>)(...stages, { signal });

/** Writes the files of one archive under `destDir`, enforcing the limits; answers their relative paths. */
class Extraction {
  readonly files: string[] = [];
  private bytes = 0;

  constructor(
    private readonly destDir: string,
    readonly limits: ExtractLimits,
    readonly budget: Budget,
    readonly signal: AbortSignal,
  ) {}

  /** `stages` sit between the source and the file (a zip entry's inflater and its counters). */
  async write(
    relativePath: string,
    source: AsyncIterable<Buffer>,
    stages: NodeJS.ReadWriteStream[] = [],
    declaredBytes = 0,
  ): Promise<void> {
    this.signal.throwIfAborted();
    if (this.files.length >= this.limits.files) throw new DatasetError(`the archive holds more than ${this.limits.files} files`);
    // A header's size can lie (the counter below holds), but one that admits too much is refused before writing.
    if (this.bytes + declaredBytes > this.limits.extractedBytes)
      throw new DatasetError(`the archive unpacks to more than ${formatBytes(this.limits.extractedBytes)}`);
    const target = resolve(this.destDir, relativePath);
    if (!target.startsWith(resolve(this.destDir) + sep))
      throw new DatasetError(`archive entry "${relativePath}" points outside the archive`);
    await mkdir(dirname(target), { recursive: true });
    const count = counter((bytes) => {
      this.bytes += bytes;
      if (this.bytes > this.limits.extractedBytes)
        throw new DatasetError(`the archive unpacks to more than ${formatBytes(this.limits.extractedBytes)}`);
    });
    try {
      // "wx": a second entry with the same name is an error, never a silent overwrite.
      await pipelineOf([source, ...stages, count, createWriteStream(target, { flags: "wx" })], this.signal);
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

/** An entry's unpacked bytes: exactly as many as its header says (a lying header is damage). */
function exactly(size: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      done(seen > size ? new Error(`more than the ${size} bytes its header declares`) : null, chunk);
    },
    flush(done) {
      done(seen < size ? new Error(`${seen} bytes where its header declares ${size}`) : null);
    },
  });
}

/** Opens a zip entry's raw bytes and the stages that unpack and count them. */
async function zipEntryStreams(zip: yauzl.ZipFile, entry: yauzl.Entry, extraction: Extraction) {
  const { budget } = extraction;
  const cap = extraction.limits.extractedBytes;
  if (entry.compressionMethod === 0) {
    const source = await zip.openReadStreamPromise(entry);
    return { source, stages: [counter((bytes) => (budget.read(bytes), budget.unpack(bytes, cap)))] };
  }
  if (entry.compressionMethod !== 8) {
    throw new DatasetError(
      `archive entry "${entry.fileName}" uses compression method ${entry.compressionMethod}; only deflate is supported`,
    );
  }
  // Inflated here rather than by yauzl, so the compressed bytes read so far are known at every chunk.
  const source = await zip.openReadStreamPromise(entry, { decodeFileData: false } as yauzl.ZipFileOptions);
  const stages = [
    counter((bytes) => budget.read(bytes)),
    createInflateRaw(),
    counter((bytes) => budget.unpack(bytes, cap)),
    exactly(entry.uncompressedSize),
  ];
  return { source, stages };
}

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
            const { source, stages } = await zipEntryStreams(zip, entry, extraction);
            await extraction.write(path, source, stages, entry.uncompressedSize);
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
/** A tar stream holds a 512-byte header and up to 511 bytes of padding per entry besides the files' bytes. */
const TAR_OVERHEAD_PER_FILE = 2048;

async function writeTarEntry(entry: tar.ReadEntry, extraction: Extraction): Promise<void> {
  if (entry.type === "SymbolicLink" || entry.type === "Link") {
    throw new DatasetError(`archive entry "${entry.path}" is a link; links are not allowed`);
  }
  const path = TAR_FILE_TYPES.has(entry.type) ? safeEntryPath(entry.path) : null;
  if (path) await extraction.write(path, entry, [], entry.size);
  else entry.resume();
}

/**
 * Gunzips here (counted, for the ratio and byte budget) and feeds the plain tar to the parser,
 * one entry at a time. The first failure ends the extraction at once: the parser is abandoned
 * rather than drained, since a failed entry's stream may never finish.
 */
async function extractTarGz(archivePath: string, extraction: Extraction): Promise<void> {
  const { budget, limits } = extraction;
  const parser = new tar.Parse({ strict: true });
  const stop = new AbortController();
  let failure: Error | null = null;
  const failWith = (error: Error) => {
    failure ??= error;
    stop.abort(failure);
  };
  const failed = new Promise<never>((_, reject) => stop.signal.addEventListener("abort", () => reject(failure), { once: true }));
  failed.catch(() => undefined);
  let entries = Promise.resolve();
  parser.on("entry", (entry) => {
    entries = entries.then(async () => {
      if (failure) return void entry.resume();
      try {
        await writeTarEntry(entry, extraction);
      } catch (error) {
        failWith(error as Error);
        entry.resume();
      }
    });
  });
  const parsed = new Promise<void>((resolvePromise, reject) => {
    parser.on("end", resolvePromise);
    parser.on("error", (error) => reject(new DatasetError(`the file is not a readable .tar.gz archive (${error.message})`)));
  });
  parsed.catch((error: Error) => failWith(error));
  const streamCap = limits.extractedBytes + limits.files * TAR_OVERHEAD_PER_FILE;
  const feed = async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      if (!parser.write(chunk)) await Promise.race([new Promise<void>((drained) => parser.once("drain", () => drained())), parsed, failed]);
    }
    parser.end();
  };
  try {
    await pipelineOf(
      [
        createReadStream(archivePath),
        counter((bytes) => budget.read(bytes)),
        createGunzip(),
        counter((bytes) => budget.unpack(bytes, streamCap)),
        feed,
      ],
      AbortSignal.any([extraction.signal, stop.signal]),
    );
    await Promise.race([parsed, failed]);
    await Promise.race([entries, failed]);
  } catch (error) {
    if (failure) throw failure;
    if (error instanceof DatasetError || (error as Error).name === "AbortError") throw error;
    // zlib's errors: not gzip, truncated.
    if ((error as NodeJS.ErrnoException).code?.startsWith("Z_")) {
      throw new DatasetError(`the file is not a readable .tar.gz archive (${(error as Error).message})`);
    }
    throw error;
  }
  if (failure) throw failure;
}

/**
 * Unpacks an upload without trusting it: no paths outside destDir, no links, bounded size,
 * compression ratio and file count. Any failure ends the extraction; the caller removes destDir.
 */
export async function extractArchive(
  archivePath: string,
  kind: ArchiveKind,
  destDir: string,
  limits: ExtractLimits,
  signal: AbortSignal,
): Promise<string[]> {
  await mkdir(destDir, { recursive: true });
  const extraction = new Extraction(destDir, limits, new Budget(limits), signal);
  await (kind === "zip" ? extractZip(archivePath, extraction) : extractTarGz(archivePath, extraction));
  return extraction.files;
}
