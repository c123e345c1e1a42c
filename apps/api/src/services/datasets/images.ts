import sharp, { type Metadata, type OutputInfo } from "sharp";
import { DatasetError } from "./errors.ts";

export type ImageShape = [height: number, width: number, channels: 1 | 3];

interface ImageInfo {
  width: number;
  height: number;
  grey: boolean;
}

const FORMATS = new Set(["png", "jpeg", "gif", "webp", "tiff", "heif"]);
/** Far above any training image; keeps one hostile file from taking the process's memory. */
const MAX_INPUT_PIXELS = 40_000_000;
const GREY_SPACES = new Set(["b-w", "grey16"]);

/** A file path (training) or the bytes of an upload (predictions). */
export type ImageInput = string | Buffer;

const open = (input: ImageInput) => sharp(input, { failOn: "error", limitInputPixels: MAX_INPUT_PIXELS, autoOrient: true });

function unreadable(name: string, error: unknown): DatasetError {
  return new DatasetError(`${name} is not a readable image (${(error as Error).message})`);
}

/** Size as displayed (EXIF orientation applied) and whether the image is greyscale. */
export async function probeImage(input: ImageInput, name: string): Promise<ImageInfo> {
  let metadata: Metadata;
  try {
    metadata = await open(input).metadata();
  } catch (error) {
    throw unreadable(name, error);
  }
  if (!FORMATS.has(metadata.format)) throw new DatasetError(`${name} is a ${metadata.format} file, not a supported image`);
  const { width, height } = metadata.autoOrient;
  return { width, height, grey: GREY_SPACES.has(metadata.space) };
}

/** The most common size (first seen wins a tie); 1 channel if every image is grey, else 3. */
export function chooseShape(infos: ImageInfo[]): ImageShape {
  const sizes = new Map<string, number>();
  for (const { width, height } of infos) sizes.set(`${height}x${width}`, (sizes.get(`${height}x${width}`) ?? 0) + 1);
  let best = "";
  let bestCount = 0;
  for (const [size, count] of sizes) {
    if (count > bestCount) [best, bestCount] = [size, count];
  }
  const [height, width] = best.split("x").map(Number);
  return [height, width, infos.every((info) => info.grey) ? 1 : 3];
}

/** Pixels as uint8 HWC at `shape`: stretched to size, alpha flattened onto black, grey or sRGB. */
export async function decodeImage(input: ImageInput, name: string, shape: ImageShape, info: ImageInfo): Promise<Buffer> {
  const [height, width, channels] = shape;
  let image = open(input);
  if (info.width !== width || info.height !== height) image = image.resize(width, height, { fit: "fill" });
  image = image.flatten({ background: "#000000" }).toColourspace(channels === 1 ? "b-w" : "srgb");
  let result: { data: Buffer; info: OutputInfo };
  try {
    result = await image.raw().toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw unreadable(name, error);
  }
  if (result.info.channels !== channels || result.data.length !== height * width * channels) {
    throw new DatasetError(
      `${name} decoded to ${result.info.width}×${result.info.height}×${result.info.channels}, not ${width}×${height}×${channels}`,
    );
  }
  return result.data;
}
