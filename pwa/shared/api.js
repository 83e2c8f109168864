// A small client for Muster's JSON API (/api/v1). Errors come back in one
// shape: {"error": {"code", "message", "details"}}; they are thrown as
// ApiError with those fields. A refused scan is not an error (HTTP 200).

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export class Api {
  constructor(token, base = "") {
    this.token = token;
    this.base = base;
  }

  async request(method, path, body, { timeoutMs = 15000, headers = {} } = {}) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const init = { method, headers: { ...headers }, signal: controller.signal };
    if (this.token) init.headers.Authorization = `Bearer ${this.token}`;
    if (body instanceof FormData || body instanceof Blob || typeof body === "string") {
      init.body = body;
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    try {
      const response = await fetch(this.base + path, init);
      const type = response.headers.get("content-type") || "";
      const data = type.includes("application/json") ? await response.json() : await response.blob();
      if (!response.ok) {
        const err = (data && data.error) || {};
        throw new ApiError(response.status, err.code || "http_error", err.message || response.statusText, err.details);
      }
      return data;
    } finally {
      clearTimeout(timer);
    }
  }

  get(path, opts) { return this.request("GET", path, undefined, opts); }
  post(path, body, opts) { return this.request("POST", path, body ?? {}, opts); }
  patch(path, body, opts) { return this.request("PATCH", path, body, opts); }
  delete(path, opts) { return this.request("DELETE", path, undefined, opts); }
}
