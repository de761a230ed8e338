// The console's HTTP client: JSON in and out, the bearer token from
// sessionStorage, RFC 9457 problems turned into ApiError.

const TOKEN_KEY = "productapi.console.token";
const EMAIL_KEY = "productapi.console.email";

export class ApiError extends Error {
  constructor(status, problem) {
    const title = (problem && problem.title) || `HTTP ${status}`;
    const detail = problem && problem.detail ? `: ${problem.detail}` : "";
    super(title + detail);
    this.status = status;
    this.problem = problem || {};
  }

  // fieldErrors lists a validation problem's errors[] as "field: message".
  get fieldErrors() {
    const errs = Array.isArray(this.problem.errors) ? this.problem.errors : [];
    return errs.map((e) => (e.field ? `${e.field}: ${e.message}` : String(e.message)));
  }
}

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  get email() { return sessionStorage.getItem(EMAIL_KEY) || ""; },
  save(token, email) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(EMAIL_KEY, email);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(EMAIL_KEY);
  },
};

// request sends one API call and returns {status, headers, body}.
export async function request(method, path, { body, headers = {}, auth = true } = {}) {
  const h = { Accept: "application/json, application/problem+json", ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (auth && session.token) h.Authorization = `Bearer ${session.token}`;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (err) {
    throw new ApiError(0, { title: "Network error", detail: "the service did not answer" });
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return { status: res.status, headers: res.headers, body: data };
}

export async function login(email, password) {
  const r = await request("POST", "/v1/auth/login", { body: { email, password }, auth: false });
  return r.body.access_token;
}

export const api = {
  currentUser: () => request("GET", "/v1/users/me").then((r) => r.body),
  flags: () => request("GET", "/v1/admin/flags?limit=100").then((r) => r.body),
  flag: (key) => request("GET", `/v1/admin/flags/${encodeURIComponent(key)}`).then((r) => r.body),
  putFlag: (key, def, version) =>
    request("PUT", `/v1/admin/flags/${encodeURIComponent(key)}`, {
      body: def,
      headers: version ? { "If-Match": `"${version}"` } : {},
    }).then((r) => r.body),
  stats: () => request("GET", "/v1/admin/stats").then((r) => r.body),
  audit: (cursor) =>
    request("GET", "/v1/admin/audit?limit=20" + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : "")).then((r) => r.body),
  deadLetters: (cursor) =>
    request("GET", "/v1/admin/dead-letters?limit=20" + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : "")).then((r) => r.body),
  replay: (id) => request("POST", `/v1/admin/dead-letters/${encodeURIComponent(id)}/replay`),
};
