// After the whole e2e run: every file the run wrote (the site and the role's state, the
// workspace, the workbench's user data and extension storage, the browser's profile,
// the logs) is searched for the secrets that went through it — the account's private
// key (the JWK's d, p and q in base64url, base64 and raw bytes; its PEM body), the API
// key, the site users' passwords, the proxy password, any access token (a JWT), and any
// site session token (found by hashing every 43-character base64url string against the
// role's stored session hashes). Only the owner-only holders named below may hold one.
// The local service's own folder is the cloud's side and is not searched.
import { createHash, createPrivateKey } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const JWT = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/g;
const TOKEN_CANDIDATE = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g;
const b64 = (s) => Buffer.from(s).toString('base64');
const b64url = (s) => Buffer.from(s).toString('base64url');

/** The needles of one secret: each encoding as bytes, with its name. */
function needlesOf(label, plain) {
  return [
    { label, encoding: 'plain', bytes: Buffer.from(plain) },
    { label, encoding: 'base64', bytes: Buffer.from(b64(plain)) },
    { label, encoding: 'base64url', bytes: Buffer.from(b64url(plain)) },
  ];
}

/** The account's private key, every way it could be written down. */
function keyNeedles(jwk) {
  const out = [];
  for (const part of ['d', 'p', 'q']) {
    if (!jwk[part]) continue;
    const raw = Buffer.from(jwk[part], 'base64url');
    const slice = (s) => s.slice(8, 8 + 40); // long enough to be the key, short enough to survive line breaks
    out.push({ label: `private key (${part})`, encoding: 'JWK base64url', bytes: Buffer.from(slice(jwk[part])) });
    out.push({ label: `private key (${part})`, encoding: 'base64', bytes: Buffer.from(slice(raw.toString('base64'))) });
    out.push({ label: `private key (${part})`, encoding: 'raw bytes', bytes: raw.subarray(4, 36) });
    out.push({ label: `private key (${part})`, encoding: 'hex', bytes: Buffer.from(raw.subarray(4, 24).toString('hex')) });
  }
  const key = createPrivateKey({ key: jwk, format: 'jwk' });
  for (const type of ['pkcs8', 'pkcs1']) {
    const body = key.export({ type, format: 'pem' }).toString().split('\n').filter((l) => l && !l.startsWith('-----'));
    // A line from the middle of the PEM body: the key's own bytes, not its header.
    out.push({ label: 'private key', encoding: `PEM (${type})`, bytes: Buffer.from(body[Math.floor(body.length / 2)]) });
  }
  return out;
}

function filesUnder(root, skip) {
  const out = [];
  const walk = (dir) => {
    let names;
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const p = path.join(dir, name);
      if (skip.some((s) => p === s || p.startsWith(`${s}${path.sep}`))) continue;
      let st;
      try {
        st = lstatSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(p);
    }
  };
  walk(root);
  return out;
}

/**
 * @param {{ roots: string[], skip: string[], holders: string[], connectionFile: string,
 *   passwords: Record<string, string>, extraSecrets: Record<string, string>, sessionHashes: Set<string> }} o
 * @returns {{ files: number, bytes: number, findings: string[], holders: string[], needles: number, tokensChecked: number }}
 */
export function scanForSecrets(o) {
  const connection = JSON.parse(readFileSync(o.connectionFile, 'utf8'));
  const needles = [
    ...keyNeedles(connection.ServicePrincipalKey),
    ...(connection.APIKey ? needlesOf('API key', connection.APIKey) : []),
    ...Object.entries(o.passwords).flatMap(([user, pw]) => needlesOf(`password of ${user}`, pw)),
    ...Object.entries(o.extraSecrets).flatMap(([label, s]) => needlesOf(label, s)),
  ];
  const holders = new Set(o.holders.filter(existsSync));
  const findings = [];
  const holderProblems = [];
  for (const h of holders) {
    const mode = statSync(h).mode & 0o777;
    if (mode & 0o077) holderProblems.push(`${h} holds secrets with mode ${mode.toString(8)} (not owner-only)`);
  }
  let files = 0;
  let bytes = 0;
  let tokensChecked = 0;
  for (const root of o.roots.filter(existsSync)) {
    for (const file of filesUnder(root, o.skip)) {
      if (holders.has(file)) continue;
      let data;
      try {
        data = readFileSync(file);
      } catch {
        continue;
      }
      files++;
      bytes += data.length;
      for (const n of needles) if (data.includes(n.bytes)) findings.push(`${file}: ${n.label} (${n.encoding})`);
      const text = data.toString('latin1');
      for (const m of text.matchAll(JWT)) findings.push(`${file}: an access token (JWT ${m[0].slice(0, 12)}…)`);
      for (const m of text.matchAll(TOKEN_CANDIDATE)) {
        tokensChecked++;
        if (o.sessionHashes.has(createHash('sha256').update(m[0]).digest('hex'))) findings.push(`${file}: a site session token (base64url)`);
      }
    }
  }
  return { files, bytes, findings: [...new Set(findings)], holders: [...holders], holderProblems, needles: needles.length, tokensChecked };
}

/** Every session token hash the role ever stored (its journal keeps old lines until it compacts). */
export function sessionHashesOf(sessionsFile) {
  const hashes = new Set();
  if (!existsSync(sessionsFile)) return hashes;
  for (const m of readFileSync(sessionsFile, 'utf8').matchAll(/[0-9a-f]{64}/g)) hashes.add(m[0]);
  return hashes;
}
