interface JobSnapshot {
  status: string;
  progress: { epoch: number; epochs: number; step: number; stepsPerEpoch: number; fraction: number; etaSeconds: number | null } | null;
  latestMetrics: { epoch: number; trainLoss: number; trainAccuracy: number; valLoss: number | null; valAccuracy: number | null } | null;
}

const WIDTH = 30;

function formatSeconds(seconds: number | null): string {
  if (seconds === null) return "?";
  if (seconds < 60) return `${seconds}s`;
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
}

/** One redrawn line on a terminal; one line per change elsewhere (CI logs stay readable). */
export function renderProgress(job: JobSnapshot): string {
  const progress = job.progress;
  const fraction = progress?.fraction ?? 0;
  const filled = Math.round(fraction * WIDTH);
  const bar = `[${"█".repeat(filled)}${"░".repeat(WIDTH - filled)}]`;
  const where = progress ? `epoch ${progress.epoch}/${progress.epochs} step ${progress.step}/${progress.stepsPerEpoch}` : job.status;
  const metrics = job.latestMetrics
    ? ` loss ${job.latestMetrics.trainLoss.toFixed(3)} acc ${job.latestMetrics.trainAccuracy.toFixed(3)}` +
      (job.latestMetrics.valAccuracy !== null ? ` val_acc ${job.latestMetrics.valAccuracy.toFixed(3)}` : "")
    : "";
  return `${bar} ${(fraction * 100).toFixed(1).padStart(5)}% ${where}${metrics} eta ${formatSeconds(progress?.etaSeconds ?? null)}`;
}

export function createProgressPrinter(stream: NodeJS.WriteStream = process.stdout) {
  let previous = "";
  return {
    update(line: string) {
      if (line === previous) return;
      previous = line;
      if (stream.isTTY) stream.write(`\r${line.padEnd(stream.columns ? stream.columns - 1 : line.length)}`);
      else stream.write(`${line}\n`);
    },
    /** A line printed above the bar (the bar is drawn again below it). */
    log(line: string) {
      if (!stream.isTTY) return void stream.write(`${line}\n`);
      stream.write(`\r${line.padEnd(stream.columns ? stream.columns - 1 : line.length)}\n`);
      if (previous) stream.write(previous);
    },
    done() {
      if (stream.isTTY && previous) stream.write("\n");
    },
  };
}
