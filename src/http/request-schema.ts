import { z } from 'zod';
import { RpaError } from '../errors/failures.js';

/**
 * Request input checked against zod schemas, every one strict: an unknown field, a wrong type or
 * a `null` is a 400 VALIDATION_FAILED naming the field (`jobs[2].parameters.effective_date`)
 * and saying why. Nothing is stored before the whole request passed.
 */

const CONTROL = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Text Postgres can store (no NUL; no lone UTF-16 surrogate, which jsonb refuses) and a log line
 * or a screen shows as it is (no other control characters either).
 */
export function isCleanText(value: string): boolean {
  return !CONTROL.test(value) && !LONE_SURROGATE.test(value);
}

/** A string of at most `max` characters of clean text. */
export function textField(max: number) {
  return z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine(isCleanText, 'must not contain NUL or other control characters, or broken Unicode');
}

export function fieldError(field: string, message: string): RpaError {
  return new RpaError('VALIDATION_FAILED', `${field}: ${message}`, { field });
}

/** `['jobs', 2, 'circuit_number']` → `jobs[2].circuit_number`. */
export function fieldPath(path: ReadonlyArray<string | number>, prefix = ''): string {
  let out = prefix;
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? shown(part) : `.${shown(part)}`;
  }
  return out === '' ? 'body' : out;
}

/** A field name as an error shows it: as it is when it is clean, else JSON-quoted, and never long. */
function shown(name: string): string {
  const text = isCleanText(name) && /^[\w.-]*$/.test(name) ? name : JSON.stringify(name);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

const squash = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, '');

/** For an unknown field: the known one it was probably meant to be (`effectiveDate` → `effective_date`). */
function suggestion(unknown: string, known: readonly string[]): string {
  const match = known.find((k) => squash(k) === squash(unknown));
  return match ? ` (did you mean ${match}?)` : '';
}

function typeName(expected: string): string {
  return expected === 'object' ? 'an object' : expected === 'array' ? 'an array' : `a ${expected}`;
}

/** The first issue of a failed parse as our error, naming its field. */
export function requestSchemaError(error: z.ZodError, known: readonly string[] = [], prefix = ''): RpaError {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    const field = fieldPath([...issue.path, key], prefix);
    return fieldError(field, `unknown field${suggestion(key, known)}; this request takes only the documented fields`);
  }
  const field = fieldPath(issue.path, prefix);
  switch (issue.code) {
    case 'invalid_type':
      if (issue.received === 'null') return fieldError(field, `must not be null (leave the field out instead)`);
      if (issue.received === 'undefined') return fieldError(field, 'is required');
      return fieldError(field, `must be ${typeName(issue.expected)}, not ${issue.received}`);
    case 'invalid_enum_value':
      return fieldError(field, `must be one of ${issue.options.join(', ')}`);
    default:
      return fieldError(field, issue.message);
  }
}

/** Parses `value` with `schema`, or throws the first issue as VALIDATION_FAILED. */
export function parseWith<S extends z.ZodTypeAny>(schema: S, value: unknown, prefix = ''): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw requestSchemaError(parsed.error, Object.keys((schema as unknown as { shape?: object }).shape ?? {}), prefix);
  return parsed.data;
}
