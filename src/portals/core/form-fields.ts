import type { Request } from 'express';

/** A string field of a form or query; arrays and objects count as absent. */
export function field(source: unknown, name: string): string | undefined {
  if (typeof source !== 'object' || source === null) return undefined;
  const value = (source as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

export function bodyField(req: Request, name: string): string | undefined {
  return field(req.body, name);
}

export function queryField(req: Request, name: string): string | undefined {
  return field(req.query, name);
}
