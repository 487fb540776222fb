// Muster pages: calls to the services through this site (`/api/<service>/…`). The session
// cookie carries the token; each action sends one Idempotency-Key, kept across retries.
"use strict";

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.error = error; // {code, message, field, rule, …}
  }
}

const RETRIES = 3;
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function answerOf(response) {
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (response.ok) return body;
  throw new ApiError(response.status, (body && body.error) || { code: "http_" + response.status });
}

export async function read(service, path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v != null));
  const response = await fetch(`/api/${service}/${path}${query.size ? "?" + query : ""}`, {
    headers: { Accept: "application/json", "Accept-Language": document.documentElement.lang },
  });
  return answerOf(response);
}

// A change (POST/PUT): the same key on every retry, so a volunteer who lost the network
// mid-request is answered once and nothing happens twice.
export async function act(service, path, body, { method = "POST", key = crypto.randomUUID(), headers = {} } = {}) {
  let lastFailure = null;
  for (let attempt = 0; attempt < RETRIES; attempt += 1) {
    try {
      const response = await fetch(`/api/${service}/${path}`, {
        method,
        headers: {
          "Content-Type": "application/json", Accept: "application/json",
          "Idempotency-Key": key, "Accept-Language": document.documentElement.lang, ...headers,
        },
        body: JSON.stringify(body ?? {}),
      });
      if (response.status === 409 || response.status === 503) {
        const retryAfter = Number(response.headers.get("retry-after") || "0");
        if (retryAfter && attempt + 1 < RETRIES) { await pause(retryAfter * 1000); continue; }
      }
      return await answerOf(response);
    } catch (failure) {
      if (failure instanceof ApiError) throw failure;
      lastFailure = failure; // the network: try again with the same key
      await pause(500 * (attempt + 1));
    }
  }
  throw new ApiError(0, { code: "network", message: String(lastFailure) });
}

export async function session() {
  const response = await fetch("/session", { headers: { Accept: "application/json" } });
  return response.json();
}
