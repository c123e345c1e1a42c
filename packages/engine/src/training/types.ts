import type { EpochMetrics, JobResult, Progress } from "@trainyard/shared";
import type { ExportedModel, OptimizerState } from "../modelExport.ts";

/** Where an interrupted epoch stood: steps done and the running sums of its metrics. */
export interface PartialEpoch {
  step: number;
  lossSum: number;
  correct: number;
  seen: number;
  seconds: number;
}

/** Everything needed to continue a job: after its last finished epoch, or mid-epoch after a shutdown. */
export interface TrainingCheckpoint {
  /** The last finished epoch (0 if none). */
  epoch: number;
  /** Progress into epoch `epoch + 1` when training stopped at a step boundary, else null. */
  partial: PartialEpoch | null;
  model: ExportedModel;
  optimizer: OptimizerState;
  bestEpoch: number;
  bestMetric: number | null;
  epochsWithoutImprovement: number;
}

export interface EpochReport {
  metrics: EpochMetrics;
  checkpoint: TrainingCheckpoint;
  isBest: boolean;
}

export interface TrainerHooks {
  onProgress(progress: Progress): void;
  /** Awaited: the next epoch starts only after the caller has the checkpoint. */
  onEpoch(report: EpochReport): Promise<void>;
  /** Checked at every step boundary; a non-null answer stops training there. */
  stopRequested(): string | null;
  /** What a user watching the job should know about how it trains (data-parallel replicas). */
  onLog?(line: string): void;
}

export type TrainingOutcome =
  | { status: "completed"; result: JobResult; best: ExportedModel; last: ExportedModel; stoppedEarly: boolean }
  /** `checkpoint` is set when the stop asked for one (a shutdown hands the job back mid-epoch). */
  | { status: "stopped"; reason: string; checkpoint: TrainingCheckpoint | null };

export interface TrainingStart {
  /** Continue an earlier attempt of this job. */
  resumeFrom?: { checkpoint: TrainingCheckpoint; best: ExportedModel | null } | null;
  /** The model named by `spec.fineTune` (its best or last checkpoint), for a job's first attempt. */
  fineTuneFrom?: ExportedModel | null;
}
