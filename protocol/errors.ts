/**
 * Every error the service can report, once: its code, the HTTP status it maps to and the
 * OpenAI error `type`. Transports translate through this table and nowhere else.
 */
export const ERROR_CODES = {
  invalid_request: { status: 400, type: 'invalid_request_error' },
  invalid_json: { status: 400, type: 'invalid_request_error' },
  /** A known OpenAI field (or value of one) that Crucible does not implement yet. */
  unsupported_parameter: { status: 400, type: 'invalid_request_error' },
  context_length_exceeded: { status: 400, type: 'invalid_request_error' },
  unsupported_execution_provider: { status: 400, type: 'invalid_request_error' },
  no_gpu_device: { status: 400, type: 'invalid_request_error' },
  forbidden: { status: 403, type: 'permission_error' },
  /** Foundry's authentication contract (issue 19). */
  missing_credentials: { status: 401, type: 'authentication_error' },
  ambiguous_auth: { status: 400, type: 'invalid_request_error' },
  invalid_api_key: { status: 401, type: 'authentication_error' },
  expired_api_key: { status: 401, type: 'authentication_error' },
  invalid_token: { status: 401, type: 'authentication_error' },
  insufficient_permissions: { status: 403, type: 'permission_error' },
  identity_provider_unavailable: { status: 503, type: 'server_error' },
  too_many_auth_failures: { status: 429, type: 'rate_limit_error' },
  model_not_found: { status: 404, type: 'invalid_request_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  method_not_allowed: { status: 405, type: 'invalid_request_error' },
  model_in_use: { status: 409, type: 'invalid_request_error' },
  /** Another agent (standalone or embedded) already runs on this home. */
  home_in_use: { status: 409, type: 'invalid_request_error' },
  /** A resource of that name already exists (the control plane's Conflict). */
  conflict: { status: 409, type: 'invalid_request_error' },
  /** API keys asked of a deployment whose authentication is disabled (seed 003). */
  authentication_disabled: { status: 400, type: 'invalid_request_error' },
  payload_too_large: { status: 413, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  cancelled: { status: 499, type: 'cancelled' },
  internal_error: { status: 500, type: 'server_error' },
  model_load_failed: { status: 500, type: 'server_error' },
  download_failed: { status: 502, type: 'server_error' },
  upstream_error: { status: 502, type: 'server_error' },
  worker_crashed: { status: 503, type: 'server_error' },
  overloaded: { status: 503, type: 'server_error' },
  shutting_down: { status: 503, type: 'server_error' },
  connection_closed: { status: 503, type: 'server_error' },
  duplicate_id: { status: 400, type: 'invalid_request_error' },
  timeout: { status: 504, type: 'server_error' },
  /** The SDK's autoStart could not bring an agent up. */
  agent_start_failed: { status: 503, type: 'server_error' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The error body shared by HTTP (inside `{"error": ...}`) and pipe error frames. */
export interface ErrorBody {
  message: string;
  type: string;
  code: ErrorCode | string;
  param?: string | null;
}

export interface ErrorEnvelope {
  error: ErrorBody;
}

export class CrucibleError extends Error {
  readonly code: ErrorCode;
  readonly param: string | null;
  /** Seconds after which a retry may succeed (overload); sent as Retry-After. */
  retryAfter?: number;
  constructor(code: ErrorCode, message: string, param: string | null = null) {
    super(message);
    this.name = 'CrucibleError';
    this.code = code;
    this.param = param;
  }
  get status(): number {
    return ERROR_CODES[this.code].status;
  }
  toBody(): ErrorBody {
    return { message: this.message, type: ERROR_CODES[this.code].type, code: this.code, param: this.param };
  }
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/** Any thrown value as a CrucibleError; unknown faults become internal_error. */
export function toCrucibleError(err: unknown): CrucibleError {
  if (err instanceof CrucibleError) return err;
  if (err && typeof err === 'object' && isErrorCode((err as { code?: unknown }).code)) {
    const e = err as { code: ErrorCode; message?: string; param?: string | null };
    return new CrucibleError(e.code, e.message ?? e.code, e.param ?? null);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new CrucibleError('internal_error', message);
}

/** Rebuilds a CrucibleError from a body received over a wire. */
export function fromErrorBody(body: ErrorBody): CrucibleError {
  const code = isErrorCode(body.code) ? body.code : 'internal_error';
  return new CrucibleError(code, body.message, body.param ?? null);
}

export const invalid = (param: string, message: string) => new CrucibleError('invalid_request', message, param);

/** A field the service knows but does not implement: refused, never silently ignored. */
export const unsupported = (param: string, message: string) => new CrucibleError('unsupported_parameter', message, param);
