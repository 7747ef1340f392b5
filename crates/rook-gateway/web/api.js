// Calls to the admin API with the session cookie; writes carry the CSRF token.
let csrf = null;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function signedOut() {
  location.assign('/ui/login');
  return new ApiError(401, 'unauthorized', 'Signed out.');
}

/** The session's CSRF token, read once from the same-origin session endpoint. */
export async function csrfToken() {
  if (csrf === null) {
    const r = await fetch('/ui/session', { credentials: 'same-origin' });
    if (!r.ok) throw signedOut();
    csrf = (await r.json()).csrf_token;
  }
  return csrf;
}

/** `method path` with an optional JSON body; resolves to the parsed answer. */
export async function api(method, path, body) {
  const headers = {};
  if (method !== 'GET') headers['x-csrf-token'] = await csrfToken();
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  if (r.status === 401) throw signedOut();
  if (r.status === 204) return null;
  const json = (r.headers.get('content-type') || '').includes('json');
  const data = json ? await r.json() : await r.text();
  if (!r.ok) {
    throw new ApiError(r.status, data?.error?.code, data?.error?.message || `${r.status} ${r.statusText}`);
  }
  return data;
}

export const get = (path) => api('GET', path);

/** Ends the session and goes to the sign-in page. */
export async function signOut() {
  try {
    await api('DELETE', '/ui/session');
  } finally {
    location.assign('/ui/login');
  }
}
