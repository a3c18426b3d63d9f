// The trail anchor an evidence item carries at the service: the seq and hash of
// the last record of the role's activity trail when the evidence was created, in
// the evidence's custom fields. Someone able to rewrite the state folder can
// rewrite the trail and its head, but not what the service keeps: verify checks
// the local trail against these anchors. The queue knows only this format, not the trail.

/** The head of the activity trail at one moment. */
export interface EvidenceAnchor {
  seq: number;
  hash: string;
}

/** Custom field names; the version says how the other two are to be read. */
export const ANCHOR_FIELDS = {
  version: 'ClearanceTrailAnchor',
  seq: 'ClearanceTrailSeq',
  hash: 'ClearanceTrailHash',
} as const;
export const ANCHOR_FORMAT_VERSION = '1';

export function anchorFields(anchor: EvidenceAnchor): Record<string, string> {
  return { [ANCHOR_FIELDS.version]: ANCHOR_FORMAT_VERSION, [ANCHOR_FIELDS.seq]: String(anchor.seq), [ANCHOR_FIELDS.hash]: anchor.hash };
}

/**
 * The anchor in an evidence item's custom fields: undefined when it carries none,
 * 'unreadable' when the fields are there but not in a form this version knows.
 */
export function anchorOfFields(fields: Readonly<Record<string, string>> | undefined): EvidenceAnchor | 'unreadable' | undefined {
  if (!fields || (fields[ANCHOR_FIELDS.version] === undefined && fields[ANCHOR_FIELDS.seq] === undefined && fields[ANCHOR_FIELDS.hash] === undefined)) return undefined;
  const seq = Number(fields[ANCHOR_FIELDS.seq]);
  const hash = fields[ANCHOR_FIELDS.hash];
  if (fields[ANCHOR_FIELDS.version] !== ANCHOR_FORMAT_VERSION || !Number.isSafeInteger(seq) || seq < 1 || typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) {
    return 'unreadable';
  }
  return { seq, hash };
}
