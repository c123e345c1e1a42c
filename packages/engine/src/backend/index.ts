import * as tf from "@tensorflow/tfjs";

export type BackendPreference = "auto" | "tensorflow" | "wasm" | "cpu";

export interface BackendInfo {
  backend: string;
  device: string;
}

/** Selects the TF.js backend for this process. */
export async function initBackend(preference: BackendPreference = "auto"): Promise<BackendInfo> {
  if (preference !== "auto" && preference !== "cpu") {
    throw new Error(`TRAINYARD_BACKEND=${preference} is not available in this build`);
  }
  await tf.setBackend("cpu");
  await tf.ready();
  return { backend: tf.getBackend(), device: "cpu:0" };
}
