import type { Ranked } from "./topK.ts";

/** A model in the TF.js layers format, as stored: model.json and its one weights file. */
export interface StoredModel {
  modelJson: Record<string, unknown>;
  weights: Uint8Array;
}

export interface PredictMessage {
  id: number;
  /** Which stored artifact the model is (the LRU's key). */
  key: string;
  /** Raw 0–255 pixels, [count, ...inputShape] row-major. */
  pixels: Float32Array;
  shape: number[];
  topK: number;
  /** Sent only after the thread answered `missing` for the key. */
  model?: StoredModel;
}

export type PredictReply =
  | { id: number; missing: true }
  | { id: number; top: Ranked[][]; inferMs: number; loadMs: number | null; evicted: string[] }
  | { id: number; error: string; badInput?: boolean };

export interface ThreadOptions {
  cacheBytes: number;
}
