/** Rows as aligned columns for a terminal; tab-separated when stdout is a pipe, so scripts can cut them. */
export function printTable(header: string[], rows: (string | number | null | undefined)[][], stream: NodeJS.WriteStream = process.stdout) {
  const cells = [
    header,
    ...rows.map((row) => row.map((cell) => (cell === null || cell === undefined || cell === "" ? "-" : String(cell)))),
  ];
  if (!stream.isTTY) {
    for (const row of cells) stream.write(`${row.join("\t")}\n`);
    return;
  }
  const widths = header.map((_, column) => Math.max(...cells.map((row) => row[column].length)));
  for (const row of cells)
    stream.write(
      `${row
        .map((cell, column) => cell.padEnd(widths[column]))
        .join("  ")
        .trimEnd()}\n`,
    );
}

export function printJson(value: unknown) {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export const percent = (value: unknown) => (typeof value === "number" ? `${(value * 100).toFixed(2)}%` : "-");
