import { createReadStream } from "node:fs";
import { DatasetError } from "./errors.ts";

export interface CsvLimits {
  /** Records a file may hold, the header and blank lines included. */
  rows: number;
  /** Characters one record may take. */
  lineLength: number;
}

/**
 * RFC 4180 (quoted fields, doubled quotes inside them, CRLF or LF line ends, a leading BOM),
 * streamed: records are yielded as the file is read, so memory holds one record, and a file of
 * too many or too long records is refused as soon as the limit is passed.
 */
export async function* readCsv(path: string, fileName: string, limits: CsvLimits, signal: AbortSignal): AsyncGenerator<string[]> {
  let row: string[] = [];
  let field = "";
  let quoted = false;
  /** A quote inside a quoted field: the end of the field or, if another follows, an escaped quote. */
  let quotePending = false;
  /** A CR just ended a record; an LF right after it belongs to that line end. */
  let afterCr = false;
  let length = 0;
  let records = 0;
  let first = true;
  const endRecord = () => {
    row.push(field);
    const done = row;
    field = "";
    row = [];
    length = 0;
    records += 1;
    if (records > limits.rows) throw new DatasetError(`${fileName} has more than ${limits.rows} rows`);
    return done;
  };
  for await (const chunk of createReadStream(path, { encoding: "utf8", signal })) {
    const text = chunk as string;
    const out: string[][] = [];
    const start = first && text.charCodeAt(0) === 0xfeff ? 1 : 0;
    first = false;
    for (let i = start; i < text.length; i += 1) {
      const char = text[i];
      if (afterCr) {
        afterCr = false;
        if (char === "\n") continue;
      }
      length += 1;
      if (length > limits.lineLength) {
        throw new DatasetError(`${fileName} row ${records} is longer than ${limits.lineLength} characters`);
      }
      if (quotePending) {
        quotePending = false;
        if (char === '"') {
          field += '"';
          continue;
        }
        quoted = false;
      }
      if (quoted) {
        if (char === '"') quotePending = true;
        else field += char;
      } else if (char === '"' && field === "") quoted = true;
      else if (char === ",") {
        row.push(field);
        field = "";
      } else if (char === "\n" || char === "\r") {
        afterCr = char === "\r";
        out.push(endRecord());
      } else field += char;
    }
    yield* out;
  }
  if (quotePending) quoted = false;
  if (quoted) throw new DatasetError(`${fileName}: a quoted field is never closed`);
  if (field !== "" || row.length > 0) yield endRecord();
}
