// Errors of the API in words a person can act on (SPEC §2: {"error":{code,message,fields}}).

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: Record<string, string>;
  readonly retryAfterMs?: number;

  constructor(status: number, code: string, message: string, fields: Record<string, string> = {}, retryAfterMs?: number) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The network could not be reached at all (offline, server down, DNS, CORS). */
export class NetworkError extends Error {
  constructor(message = 'Cannot reach the server. Check your connection and try again.') {
    super(message);
    this.name = 'NetworkError';
  }
}

const FIELD_NAMES: Record<string, string> = {
  username: 'Username',
  password: 'Password',
  new_password: 'New password',
  current_password: 'Current password',
  email: 'Email',
  display_name: 'Display name',
  status_text: 'Status',
  content: 'Message',
  name: 'Name',
  topic: 'Topic',
  alias: 'Alias',
  file: 'File',
  avatar_upload_id: 'Avatar',
  user_id: 'User',
  user_ids: 'Users',
  reason: 'Reason',
  duration_secs: 'Duration',
};

function capitalize(text: string): string {
  return text.length ? text[0].toUpperCase() + text.slice(1) : text;
}

/** Parses an error response body, whatever it is, into an ApiError. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  let code = `http_${response.status}`;
  let message = response.statusText || `The server answered ${response.status}.`;
  let fields: Record<string, string> = {};
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string; fields?: Record<string, string> } };
    if (body && body.error) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
      fields = body.error.fields ?? {};
    }
  } catch {
    // Not JSON (a proxy's error page): keep the status text.
  }
  const retryAfter = Number(response.headers.get('Retry-After'));
  return new ApiError(response.status, code, message, fields, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
}

/** A sentence for any error: field problems spelled out, rate limits with their wait. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    const fieldText = Object.entries(error.fields)
      .map(([field, why]) => `${FIELD_NAMES[field] ?? capitalize(field.replace(/_/g, ' '))} ${why}`)
      .join('. ');
    if (error.code === 'rate_limited') {
      const secs = error.retryAfterMs ? Math.ceil(error.retryAfterMs / 1000) : undefined;
      return secs ? `Too many requests. Try again in ${secs} s.` : 'Too many requests. Try again in a moment.';
    }
    if (fieldText) return fieldText.endsWith('.') ? fieldText : `${fieldText}.`;
    const message = capitalize(error.message);
    return /[.!?]$/.test(message) ? message : `${message}.`;
  }
  if (error instanceof NetworkError) return error.message;
  if (error instanceof DOMException && error.name === 'AbortError') return 'The request was cancelled.';
  if (error instanceof Error) return error.message || 'Something went wrong.';
  return 'Something went wrong.';
}
