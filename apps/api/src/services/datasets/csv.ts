import { DatasetError } from "./errors.ts";

/** RFC 4180: quoted fields, doubled quotes inside them, CRLF or LF line ends, a leading BOM. */
export function parseCsv(text: string, fileName: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  const endField = () => {
    row.push(field);
    field = "";
  };
  for (let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; i < text.length; i += 1) {
    const char = text[i];
    if (quoted) {
      if (char !== '"') field += char;
      else if (text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else quoted = false;
    } else if (char === '"' && field === "") quoted = true;
    else if (char === ",") endField();
    else if (char === "\n" || char === "\r") {
      if (char === "\r" && text[i + 1] === "\n") i += 1;
      endField();
      rows.push(row);
      row = [];
    } else field += char;
  }
  if (quoted) throw new DatasetError(`${fileName}: a quoted field is never closed`);
  if (field !== "" || row.length > 0) {
    endField();
    rows.push(row);
  }
  return rows;
}
