// The console's API client: every call is an RPC POST to `/` signed in the page with ACS3-HMAC-SHA256
// (WebCrypto), the same scheme the SDKs use, so it goes through the server's whole pipeline (signature,
// nonce, RAM policies, envelope) like any SDK call. The AccessKey pair lives only in sessionStorage:
// never in a URL, a cookie or a log; closing the tab forgets it.

const KEY = 'ecslab.credentials';
const encoder = new TextEncoder();

export const VERSIONS = {
  ecs: '2014-05-26',
  ecd: '2020-09-30',
  mts: '2014-06-18',
  console: 'ecslab-console',
};

export function credentials() {
  const raw = sessionStorage.getItem(KEY);
  return raw ? JSON.parse(raw) : null;
}

export function signIn(accessKeyId, accessKeySecret, securityToken = '') {
  sessionStorage.setItem(KEY, JSON.stringify({ accessKeyId, accessKeySecret, securityToken }));
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(code, message, status) {
    super(`${code}: ${message}`);
    this.code = code;
    this.status = status;
  }
}

const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');

async function sha256Hex(text) {
  return hex(await crypto.subtle.digest('SHA-256', encoder.encode(text)));
}

async function hmacHex(secret, text) {
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' },
    false, ['sign']);
  return hex(await crypto.subtle.sign('HMAC', key, encoder.encode(text)));
}

/// Call `action` of `product` (a key of VERSIONS) with flat parameters; resolves to the reply's JSON.
export async function call(product, action, params = {}) {
  const creds = credentials();
  if (!creds) throw new ApiError('NotSignedIn', 'Sign in with an AccessKey pair first.', 0);
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries({ RegionId: regionId(), ...params })) {
    if (v !== undefined && v !== null && v !== '') form.append(k, String(v));
  }
  const body = form.toString();
  const headers = {
    'host': location.host,
    'x-acs-action': action,
    'x-acs-content-sha256': await sha256Hex(body),
    'x-acs-date': new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    'x-acs-signature-nonce': crypto.randomUUID(),
    'x-acs-version': VERSIONS[product],
  };
  if (creds.securityToken) headers['x-acs-security-token'] = creds.securityToken; // an STS key
  const names = Object.keys(headers).sort();
  const canonical = ['POST', '/', '', ...names.map((n) => `${n}:${headers[n]}`), '', names.join(';'),
    headers['x-acs-content-sha256']].join('\n');
  const stringToSign = `ACS3-HMAC-SHA256\n${await sha256Hex(canonical)}`;
  const signature = await hmacHex(creds.accessKeySecret, stringToSign);
  delete headers.host; // the browser sends it (and it was signed as location.host)
  headers['content-type'] = 'application/x-www-form-urlencoded';
  headers.authorization =
    `ACS3-HMAC-SHA256 Credential=${creds.accessKeyId},SignedHeaders=${names.join(';')},Signature=${signature}`;
  const response = await fetch('/', { method: 'POST', headers, body, credentials: 'omit', cache: 'no-store' });
  const reply = await response.json().catch(() => ({}));
  if (!response.ok || reply.Code) {
    throw new ApiError(reply.Code || `HTTP${response.status}`, reply.Message || response.statusText, response.status);
  }
  return reply;
}

/// The region the server is (the page's setting, `local` unless changed at sign-in).
export function regionId() {
  return sessionStorage.getItem('ecslab.region') || 'local';
}

export function setRegion(region) {
  sessionStorage.setItem('ecslab.region', region || 'local');
}
