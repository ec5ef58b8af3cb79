import type { ErrorRequestHandler, RequestHandler } from 'express';
import { coerceError, type ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';

/** The one place error codes become HTTP statuses. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  CALLBACK_URL_FORBIDDEN: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  SERVICE_UNAVAILABLE: 503,
};

interface HttpParserError {
  type?: string;
  status?: number;
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (thrown, req, res, _next) => {
    const parserError = thrown as HttpParserError;
    if (parserError?.type === 'entity.too.large') {
      res.status(413).json({ error: { code: 'PAYLOAD_TOO_LARGE', message: 'request body is too large', field: 'body' } });
      return;
    }
    if (parserError?.type === 'entity.parse.failed' || parserError?.type === 'encoding.unsupported' || parserError?.type === 'charset.unsupported') {
      res.status(400).json({ error: { code: 'VALIDATION_FAILED', message: 'request body is not valid JSON', field: 'body' } });
      return;
    }
    const error = coerceError(thrown);
    const status = STATUS[error.code] ?? 500;
    if (status >= 500) logger.error({ err: error, method: req.method, path: req.path }, 'request failed');
    const message = status >= 500 && error.code === 'INTERNAL' ? 'internal error' : error.message;
    res.status(status).json({ error: { code: error.code, message, field: error.field ?? null } });
  };
}

export const notFoundHandler: RequestHandler = (req, res) => {
  res.status(404).json({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.path}`, field: null } });
};
