import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { coerceError } from '../errors/coerce-error.js';
import { RpaError, type ErrorBody } from '../errors/failures.js';
import type { Logger } from '../logger.js';

/** Errors body-parser raises before a handler runs, as ours. */
function parserError(thrown: unknown): RpaError | undefined {
  const type = (thrown as { type?: string } | undefined)?.type;
  if (type === 'entity.too.large') return new RpaError('PAYLOAD_TOO_LARGE', 'request body is too large', { field: 'body' });
  if (type === 'entity.parse.failed' || type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return new RpaError('VALIDATION_FAILED', 'request body is not valid JSON', { field: 'body' });
  }
  return undefined;
}

/** The JSON body of an error answer; an INTERNAL error's message (a bug's) is not shown. */
export function errorBody(error: RpaError): { error: ErrorBody } {
  const body = error.toJSON();
  return { error: error.code === 'INTERNAL' ? { ...body, message: 'internal error' } : body };
}

export function sendError(res: Response, error: RpaError): void {
  res.status(error.policy.http).json(errorBody(error));
}

/**
 * The one Express error handler (API, browser pool): the failure table gives the
 * status, the body is `{"error":{"code","message","field","retryable"}}`. Failures of ours
 * (5xx) are logged as `what`; an outage of a dependency only as a warning.
 */
export function jsonErrorHandler(logger: Logger, what = 'request failed'): ErrorRequestHandler {
  return (thrown, req, res, _next) => {
    const error = parserError(thrown) ?? coerceError(thrown);
    const status = error.policy.http;
    if (status >= 500) {
      const level = error.code === 'SERVICE_UNAVAILABLE' ? 'warn' : 'error';
      logger[level]({ err: error, method: req.method, path: req.path }, what);
    }
    if (res.headersSent || req.socket.destroyed) return;
    sendError(res, error);
  };
}

export const jsonNotFound: RequestHandler = (req, res) => {
  sendError(res, new RpaError('NOT_FOUND', `no route ${req.method} ${req.path}`));
};
