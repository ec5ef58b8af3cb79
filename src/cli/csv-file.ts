import { RpaError } from '../errors/failures.js';

/**
 * Rows of a CSV file (RFC 4180: quoted fields, doubled quotes, CRLF or LF) as objects keyed by
 * the header row. Blank lines are skipped; a row with more fields than the header is an error
 * naming its line.
 */
export function parseCsv(text: string): Array<Record<string, string>> {
  const records: Array<{ line: number; fields: string[] }> = [];
  let field = '';
  let fields: string[] = [];
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  const body = text.replace(/^\uFEFF/, '');
  const endRecord = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0]!.trim() === '')) records.push({ line: recordLine, fields });
    fields = [];
    field = '';
  };
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (quoted) {
      if (c === '"' && body[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else {
        if (c === '\n') line++;
        field += c;
      }
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && body[i + 1] === '\n') i++;
      endRecord();
      line++;
      recordLine = line;
    } else field += c;
  }
  if (quoted) throw new RpaError('VALIDATION_FAILED', `CSV line ${recordLine}: a quoted field is not closed`);
  if (field !== '' || fields.length > 0) endRecord();
  if (records.length === 0) throw new RpaError('VALIDATION_FAILED', 'the CSV file is empty (it needs a header row)');
  const header = records[0]!.fields.map((h) => h.trim().toLowerCase());
  return records.slice(1).map((r) => {
    if (r.fields.length > header.length) throw new RpaError('VALIDATION_FAILED', `CSV line ${r.line}: ${r.fields.length} fields, the header has ${header.length}`);
    return Object.fromEntries(header.map((h, i) => [h, (r.fields[i] ?? '').trim()]));
  });
}
