// site.json: the configuration of a LocalFolderSite. Membership is stored on
// the child (camera.areaId or camera.federationId, area.federationId) so one
// entity can never sit in two places; the model derives the lists.
//
// {
//   "schemaVersion": 1,
//   "name": "Riverside Campus",
//   "federations": [{ "id": "...", "name": "..." }],
//   "areas":   [{ "id": "...", "name": "...", "federationId"?: "..." }],
//   "cameras": [{ "id": "...", "name": "...", "location"?: "...", "areaId"?: "...", "federationId"?: "..." }],
//   "users":   [{ "id": "...", "name": "...", "displayName"?: "...", "privileges": ["sendEvidence", ...], "passwordHash"?: "scrypt$..." }]
// }
//
// Ids are unique across all entities (Security Center GUIDs are), so a camera
// selection can refer to any of them unambiguously. Unknown keys are ignored.

import { isPasswordHash } from '../auth/passwords';
import { describeType, isPlainObject, type FieldIssue } from '../config/fieldErrors';
import { SITE_PRIVILEGES, type Area, type Camera, type Federation, type SitePrivilege, type SiteModel, type SiteUser } from './model';

export const SITE_FILE_SCHEMA_VERSION = 1;
const MAX_ID_LENGTH = 200;
const MAX_TEXT_LENGTH = 500;

/** The stored shape (what the generator writes). */
export interface SiteFile {
  schemaVersion: number;
  name: string;
  federations: { id: string; name: string }[];
  areas: { id: string; name: string; federationId?: string }[];
  cameras: { id: string; name: string; location?: string; areaId?: string; federationId?: string }[];
  /** passwordHash: the scrypt hash of the user's password (auth/passwords.ts), set by the role. */
  users: { id: string; name: string; displayName?: string; privileges: SitePrivilege[]; passwordHash?: string }[];
}

export type SiteFileCheck = { ok: true; model: SiteModel } | { ok: false; issues: FieldIssue[] };

/** Validates parsed site.json content and builds the model; collects every issue. */
export function checkSiteFile(value: unknown): SiteFileCheck {
  const issues: FieldIssue[] = [];
  const issue = (field: string, message: string) => issues.push({ field, message });
  if (!isPlainObject(value)) {
    return { ok: false, issues: [{ field: '(root)', message: `must be a JSON object, found ${describeType(value)}` }] };
  }
  if (value.schemaVersion !== SITE_FILE_SCHEMA_VERSION) {
    issue('schemaVersion', `must be ${SITE_FILE_SCHEMA_VERSION}, found ${JSON.stringify(value.schemaVersion) ?? 'nothing'}`);
  }
  const name = text(value, 'name', 'name', issue, true) ?? '';

  const seenIds = new Map<string, string>();
  const list = (key: string): Record<string, unknown>[] => {
    const v = value[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      issue(key, `must be an array, found ${describeType(v)}`);
      return [];
    }
    const out: Record<string, unknown>[] = [];
    v.forEach((item, i) => {
      if (isPlainObject(item)) out.push(item);
      else issue(`${key}[${i}]`, `must be an object, found ${describeType(item)}`);
    });
    return out;
  };
  const entityId = (item: Record<string, unknown>, at: string): string | undefined => {
    const id = text(item, 'id', `${at}.id`, issue, true, MAX_ID_LENGTH);
    if (id === undefined) return undefined;
    const previous = seenIds.get(id);
    if (previous !== undefined) {
      issue(`${at}.id`, `duplicates the id of ${previous} (${JSON.stringify(id)})`);
      return undefined;
    }
    seenIds.set(id, at);
    return id;
  };

  const federations: Federation[] = [];
  list('federations').forEach((f, i) => {
    const at = `federations[${i}]`;
    const id = entityId(f, at);
    const fname = text(f, 'name', `${at}.name`, issue, true);
    if (id !== undefined && fname !== undefined) federations.push({ id, name: fname, areaIds: [], directCameraIds: [], cameraIds: [] });
  });
  const federationById = new Map(federations.map((f) => [f.id, f]));

  const areas: Area[] = [];
  list('areas').forEach((a, i) => {
    const at = `areas[${i}]`;
    const id = entityId(a, at);
    const aname = text(a, 'name', `${at}.name`, issue, true);
    const federationId = text(a, 'federationId', `${at}.federationId`, issue, false, MAX_ID_LENGTH);
    if (federationId !== undefined && !federationById.has(federationId)) {
      issue(`${at}.federationId`, `names no federation of this site (${JSON.stringify(federationId)})`);
      return;
    }
    if (id === undefined || aname === undefined) return;
    const area: Area = { id, name: aname, cameraIds: [] };
    if (federationId !== undefined) {
      area.federationId = federationId;
      federationById.get(federationId)?.areaIds.push(id);
    }
    areas.push(area);
  });
  const areaById = new Map(areas.map((a) => [a.id, a]));

  const cameras: Camera[] = [];
  list('cameras').forEach((c, i) => {
    const at = `cameras[${i}]`;
    const id = entityId(c, at);
    const cname = text(c, 'name', `${at}.name`, issue, true);
    const location = text(c, 'location', `${at}.location`, issue, false);
    const areaId = text(c, 'areaId', `${at}.areaId`, issue, false, MAX_ID_LENGTH);
    const federationId = text(c, 'federationId', `${at}.federationId`, issue, false, MAX_ID_LENGTH);
    if (areaId !== undefined && federationId !== undefined) {
      issue(`${at}.federationId`, 'a camera belongs to an area or directly to a federation, not both (its area already says which federation)');
      return;
    }
    if (areaId !== undefined && !areaById.has(areaId)) {
      issue(`${at}.areaId`, `names no area of this site (${JSON.stringify(areaId)})`);
      return;
    }
    if (federationId !== undefined && !federationById.has(federationId)) {
      issue(`${at}.federationId`, `names no federation of this site (${JSON.stringify(federationId)})`);
      return;
    }
    if (id === undefined || cname === undefined) return;
    const camera: Camera = { id, name: cname };
    if (location !== undefined) camera.location = location;
    if (areaId !== undefined) {
      const area = areaById.get(areaId)!;
      camera.areaId = areaId;
      area.cameraIds.push(id);
      if (area.federationId !== undefined) {
        camera.federationId = area.federationId;
        federationById.get(area.federationId)?.cameraIds.push(id);
      }
    } else if (federationId !== undefined) {
      camera.federationId = federationId;
      const federation = federationById.get(federationId)!;
      federation.directCameraIds.push(id);
      federation.cameraIds.push(id);
    }
    cameras.push(camera);
  });

  const users: SiteUser[] = [];
  list('users').forEach((u, i) => {
    const at = `users[${i}]`;
    const id = entityId(u, at);
    const uname = text(u, 'name', `${at}.name`, issue, true);
    const displayName = text(u, 'displayName', `${at}.displayName`, issue, false);
    if (u.passwordHash !== undefined && !isPasswordHash(u.passwordHash)) {
      issue(`${at}.passwordHash`, 'is not a password hash written by the role (set it with clearance-role users set-password)');
    }
    const privileges: SitePrivilege[] = [];
    const raw = u.privileges;
    if (raw === undefined) {
      // A user without the key has no privileges, like a new Security Center user.
    } else if (!Array.isArray(raw)) {
      issue(`${at}.privileges`, `must be an array of privilege names, found ${describeType(raw)}`);
    } else {
      raw.forEach((p, j) => {
        if (typeof p === 'string' && (SITE_PRIVILEGES as readonly string[]).includes(p)) {
          if (!privileges.includes(p as SitePrivilege)) privileges.push(p as SitePrivilege);
        } else {
          issue(`${at}.privileges[${j}]`, `must be one of ${SITE_PRIVILEGES.join(', ')}; found ${JSON.stringify(p)}`);
        }
      });
    }
    if (id !== undefined && uname !== undefined) users.push({ id, name: uname, displayName: displayName ?? uname, privileges });
  });

  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, model: { name, federations, areas, cameras, users } };
}

function text(
  obj: Record<string, unknown>,
  key: string,
  field: string,
  issue: (field: string, message: string) => void,
  required: boolean,
  maxLength = MAX_TEXT_LENGTH,
): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) {
    if (required) issue(field, 'is required');
    return undefined;
  }
  if (typeof v !== 'string') {
    issue(field, `must be a string, found ${describeType(v)}`);
    return undefined;
  }
  if (v.trim() === '') {
    issue(field, 'must not be empty');
    return undefined;
  }
  if (v.length > maxLength) {
    issue(field, `must be at most ${maxLength} characters, found ${v.length}`);
    return undefined;
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) {
    issue(field, 'must not contain control characters');
    return undefined;
  }
  return v;
}
