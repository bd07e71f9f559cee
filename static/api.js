// The conversations HTTP API (docs/api.md); state-changing requests carry the CSRF token from the page.
import { _ } from "./i18n.js";

const root = new URL(document.body.dataset.root || "/", location.origin);

export const appUrl = (path) => new URL(path, root);

// `code` is the server's error code; `field`, when the server names one, the field of the request it refused.
export class ApiError extends Error {
  constructor(message, status, { code = null, field = null } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content;
const unreachable = () => new ApiError(_("The server could not be reached."), 0);

// The response to a request as the page sends it (a change carries the CSRF token); `signal` may abort it. A server
// that cannot be reached is an ApiError; an aborted request rejects with the AbortError.
export async function send(method, path, body, signal) {
  const headers = {};
  if (method !== "GET" && csrfToken()) headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  try {
    return await fetch(appUrl(path), { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw unreachable();
  }
}

// The error a response that is not ok stands for, in the server's words when it gave some.
export function refusal(response, data) {
  const message = data?.error?.message || _("The server answered with an error (%(status)s).", { status: response.status });
  return new ApiError(message, response.status, data?.error);
}

export async function request(method, path, body) {
  const response = await send(method, path, body);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw refusal(response, data);
  return data;
}

export const conversationsApi = {
  list: (q = "", before = "") => request("GET", `api/conversations?${new URLSearchParams({ q, limit: 50, ...(before && { before }) })}`),
  get: (id) => request("GET", `api/conversations/${encodeURIComponent(id)}`),
  update: (id, changes) => request("PATCH", `api/conversations/${encodeURIComponent(id)}`, changes),
  remove: (id) => request("DELETE", `api/conversations/${encodeURIComponent(id)}`),
  import: (data) => request("POST", "api/conversations/import", data),
  exportUrl: (id, format) => appUrl(`api/conversations/${encodeURIComponent(id)}/export?format=${format}`).href,
};

// Uploads `file` as an attachment (docs/api.md): resolves to the attachment, rejects with an ApiError in the server's
// words, or with the signal's reason once it aborts. XMLHttpRequest, because fetch does not tell how much of a body
// has gone: onProgress(share) follows the upload, from 0 to 1.
function uploadAttachment(file, { onProgress, signal }) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", appUrl("api/attachments"));
    if (csrfToken()) xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => event.lengthComputable && onProgress(event.loaded / event.total));
    xhr.addEventListener("load", () => (xhr.status === 201 ? resolve(xhr.response) : reject(refusal(xhr, xhr.response))));
    xhr.addEventListener("error", () => reject(unreachable()));
    xhr.addEventListener("abort", () => reject(signal.reason));
    signal.addEventListener("abort", () => xhr.abort());
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

export const attachmentsApi = {
  upload: uploadAttachment,
  url: (id) => appUrl(`api/attachments/${encodeURIComponent(id)}`).href,
  thumbnailUrl: (id) => appUrl(`api/attachments/${encodeURIComponent(id)}/thumbnail`).href,
  remove: (id) => request("DELETE", `api/attachments/${encodeURIComponent(id)}`),
};
