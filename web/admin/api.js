// The console's HTTP client: JSON in and out, the session (access token,
// refresh token, expiry) in sessionStorage, RFC 9457 problems turned into
// ApiError. The access token lives minutes (auth.access_token_ttl): it is
// refreshed shortly before it expires, and once more on a 401, with the
// refresh token, which works once and is replaced by every refresh.

const TOKEN_KEY = "productapi.console.token";
const REFRESH_KEY = "productapi.console.refresh";
const RENEW_KEY = "productapi.console.renew_at"; // ms since the epoch, this browser's clock
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
  get refreshToken() { return sessionStorage.getItem(REFRESH_KEY); },
  get renewAt() { return Number(sessionStorage.getItem(RENEW_KEY)) || 0; },
  get email() { return sessionStorage.getItem(EMAIL_KEY) || ""; },
  // save stores a token response ({access_token, refresh_token,
  // expires_in}); the access token is to be renewed a minute before it
  // expires, or after three quarters of a shorter lifetime.
  save(tokens, email = this.email) {
    const lifetime = tokens.expires_in * 1000;
    sessionStorage.setItem(TOKEN_KEY, tokens.access_token);
    sessionStorage.setItem(REFRESH_KEY, tokens.refresh_token);
    sessionStorage.setItem(RENEW_KEY, String(Date.now() + lifetime - Math.min(60_000, lifetime / 4)));
    sessionStorage.setItem(EMAIL_KEY, email);
  },
  clear() {
    for (const k of [TOKEN_KEY, REFRESH_KEY, RENEW_KEY, EMAIL_KEY]) sessionStorage.removeItem(k);
  },
};

// send makes one fetch and returns {status, headers, body}; a non-2xx
// answer throws ApiError.
async function send(method, path, { body, headers = {}, token } = {}) {
  const h = { Accept: "application/json, application/problem+json", ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (token) h.Authorization = `Bearer ${token}`;
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

// refreshing is the refresh in progress: concurrent requests wait for the
// same one, since a refresh token presented twice revokes the session.
let refreshing = null;

// refresh trades the refresh token for new tokens; it fails (and the
// session ends) when the refresh token is spent, revoked or expired.
export function refresh() {
  if (!refreshing) {
    const presented = session.refreshToken;
    refreshing = (async () => {
      if (!presented) throw new ApiError(401, { title: "Unauthorized", detail: "not signed in" });
      const r = await send("POST", "/v1/console/refresh", { body: { refresh_token: presented } });
      session.save(r.body);
    })().finally(() => { refreshing = null; });
  }
  return refreshing;
}

// request sends one API call as the signed-in user: the access token is
// refreshed first when it is about to expire, and a 401 (the token expired
// or was revoked early, as the service sees it) is retried once after a
// refresh. A refresh refused with 401 ends the session (the caller's 401).
export async function request(method, path, { body, headers = {}, auth = true } = {}) {
  if (!auth) return send(method, path, { body, headers });
  if (refreshing) await refreshing.catch(() => {});
  let renewed = false;
  if (session.refreshToken && Date.now() >= session.renewAt) {
    await refresh();
    renewed = true;
  }
  try {
    return await send(method, path, { body, headers, token: session.token });
  } catch (err) {
    if (renewed || !(err instanceof ApiError) || err.status !== 401 || !session.refreshToken) throw err;
    await refresh().catch(() => { throw err; });
    return send(method, path, { body, headers, token: session.token });
  }
}

// login is the console's sign-in (its own rate-limit budget): tokens, or
// {mfa_required, mfa_token} when the account has a second factor.
export async function login(email, password) {
  return (await send("POST", "/v1/console/login", { body: { email, password } })).body;
}

// loginMFA completes a sign-in with a TOTP (or recovery) code.
export async function loginMFA(mfaToken, code) {
  return (await send("POST", "/v1/console/mfa", { body: { mfa_token: mfaToken, code } })).body;
}

// logout revokes the session's refresh token; the caller clears the session.
export async function logout() {
  const presented = session.refreshToken;
  if (presented) await send("POST", "/v1/console/logout", { body: { refresh_token: presented } });
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
