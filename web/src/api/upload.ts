// Uploads go through XMLHttpRequest: fetch has no upload progress events.

import type { ApiClient } from './http';
import { ApiError, NetworkError } from './errors';
import type { Upload } from './types';

export interface UploadHandle {
  promise: Promise<Upload>;
  abort(): void;
}

function parseError(xhr: XMLHttpRequest): ApiError {
  let code = `http_${xhr.status}`;
  let message = xhr.statusText || `The server answered ${xhr.status}.`;
  let fields: Record<string, string> = {};
  try {
    const body = JSON.parse(xhr.responseText) as { error?: { code?: string; message?: string; fields?: Record<string, string> } };
    if (body.error) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
      fields = body.error.fields ?? {};
    }
  } catch {
    if (xhr.status === 413) message = 'The file is too large.';
  }
  const retryAfter = Number(xhr.getResponseHeader('Retry-After'));
  return new ApiError(xhr.status, code, message, fields, retryAfter > 0 ? retryAfter * 1000 : undefined);
}

/** POST /api/v1/uploads (multipart field `file`), reporting progress from 0 to 1. */
export function uploadFile(client: ApiClient, file: File, onProgress: (fraction: number) => void, deviceId: string): UploadHandle {
  let current: XMLHttpRequest | null = null;
  let aborted = false;

  const attempt = (token: string): Promise<{ status: number; xhr: XMLHttpRequest }> =>
    new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      current = xhr;
      xhr.open('POST', client.url('/uploads'));
      xhr.setRequestHeader('Authorization', `Bearer ${token}`);
      xhr.setRequestHeader('X-Device-ID', deviceId);
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable && event.total > 0) onProgress(Math.min(1, event.loaded / event.total));
      };
      xhr.onload = () => resolve({ status: xhr.status, xhr });
      xhr.onerror = () => reject(new NetworkError('The upload failed: the server could not be reached.'));
      xhr.onabort = () => reject(new DOMException('The upload was cancelled.', 'AbortError'));
      const form = new FormData();
      form.append('file', file, file.name);
      xhr.send(form);
    });

  const run = async (): Promise<Upload> => {
    let token = await client.accessToken();
    if (!token) throw new ApiError(401, 'unauthorized', 'You are signed out. Sign in again.');
    if (aborted) throw new DOMException('The upload was cancelled.', 'AbortError');
    let { status, xhr } = await attempt(token);
    if (status === 401) {
      token = await client.refresh();
      if (!token) throw parseError(xhr);
      onProgress(0);
      ({ status, xhr } = await attempt(token));
    }
    if (status < 200 || status >= 300) throw parseError(xhr);
    onProgress(1);
    return JSON.parse(xhr.responseText) as Upload;
  };

  return {
    promise: run(),
    abort() {
      aborted = true;
      (current as XMLHttpRequest | null)?.abort();
    },
  };
}
