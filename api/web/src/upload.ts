// Sends a file to POST /v1/uploads with XMLHttpRequest, the one browser API that reports upload progress.
import { ApiError, authHeader, type Problem } from './api.ts';

export interface Uploaded {
  id: string;
  sha256: string;
  size: number;
  filename: string | null;
}

export function uploadFile(file: File, onProgress: (sent: number, total: number) => void, signal: AbortSignal): Promise<Uploaded> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/v1/uploads?filename=${encodeURIComponent(file.name)}`);
    for (const [k, v] of Object.entries(authHeader())) xhr.setRequestHeader(k, v);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.upload.addEventListener('progress', (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size));
    xhr.addEventListener('load', () => {
      let body: unknown;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = undefined;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as Uploaded);
      else reject(new ApiError(xhr.status, body as Problem | undefined));
    });
    xhr.addEventListener('error', () => reject(new Error('the upload did not reach kiln (network error)')));
    xhr.addEventListener('abort', () => reject(new DOMException('upload canceled', 'AbortError')));
    signal.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(file);
  });
}
