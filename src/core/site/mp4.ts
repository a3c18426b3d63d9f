// Reads an MP4's duration from its movie header (moov/mvhd) without ffprobe:
// @ffmpeg-installer ships no ffprobe, and listing a day of recordings must not
// start hundreds of processes.

import { open, type FileHandle } from 'node:fs/promises';

/** Duration in milliseconds, or undefined when the file has no readable mvhd. */
export async function readMp4DurationMs(file: string): Promise<number | undefined> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const moov = await findBox(fh, 0, size, 'moov');
    if (!moov) return undefined;
    const mvhd = await findBox(fh, moov.bodyStart, moov.end, 'mvhd');
    if (!mvhd) return undefined;
    const head = Buffer.alloc(32);
    const { bytesRead } = await fh.read(head, 0, 32, mvhd.bodyStart);
    if (bytesRead < 20) return undefined;
    const version = head.readUInt8(0);
    let timescale: number;
    let duration: number;
    if (version === 1) {
      if (bytesRead < 32) return undefined;
      timescale = head.readUInt32BE(20);
      duration = Number(head.readBigUInt64BE(24));
    } else {
      timescale = head.readUInt32BE(12);
      duration = head.readUInt32BE(16);
    }
    if (timescale === 0) return undefined;
    return (duration * 1000) / timescale;
  } finally {
    await fh.close();
  }
}

/**
 * The sample entry type of the first video track (`avc1` or `avc3` for H.264,
 * `hev1`, `mp4v`…), and whether the file has an audio track; undefined when the
 * file has no readable moov.
 */
export async function readMp4Tracks(file: string): Promise<{ video?: string; audio: boolean } | undefined> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const moov = await findBox(fh, 0, size, 'moov');
    if (!moov) return undefined;
    let video: string | undefined;
    let audio = false;
    for (const trak of await childBoxes(fh, moov.bodyStart, moov.end, 'trak')) {
      const mdia = await findBox(fh, trak.bodyStart, trak.end, 'mdia');
      if (!mdia) continue;
      const hdlr = await findBox(fh, mdia.bodyStart, mdia.end, 'hdlr');
      if (!hdlr) continue;
      const head = Buffer.alloc(12);
      if ((await fh.read(head, 0, 12, hdlr.bodyStart)).bytesRead < 12) continue;
      const handler = head.toString('latin1', 8, 12);
      if (handler === 'soun') audio = true;
      if (handler !== 'vide' || video !== undefined) continue;
      const minf = await findBox(fh, mdia.bodyStart, mdia.end, 'minf');
      const stbl = minf && (await findBox(fh, minf.bodyStart, minf.end, 'stbl'));
      const stsd = stbl && (await findBox(fh, stbl.bodyStart, stbl.end, 'stsd'));
      if (!stsd) continue;
      const entry = Buffer.alloc(16);
      if ((await fh.read(entry, 0, 16, stsd.bodyStart)).bytesRead < 16 || entry.readUInt32BE(4) < 1) continue;
      video = entry.toString('latin1', 12, 16);
    }
    return { ...(video !== undefined ? { video } : {}), audio };
  } finally {
    await fh.close();
  }
}

async function childBoxes(fh: FileHandle, start: number, end: number, type: string): Promise<{ bodyStart: number; end: number }[]> {
  const out: { bodyStart: number; end: number }[] = [];
  let pos = start;
  for (;;) {
    const box = await findBox(fh, pos, end, type);
    if (!box) return out;
    out.push(box);
    if (box.end <= pos) return out;
    pos = box.end;
  }
}

async function findBox(
  fh: FileHandle,
  start: number,
  end: number,
  type: string,
): Promise<{ bodyStart: number; end: number } | undefined> {
  const header = Buffer.alloc(16);
  let pos = start;
  while (pos + 8 <= end) {
    const { bytesRead } = await fh.read(header, 0, 16, pos);
    if (bytesRead < 8) return undefined;
    let boxSize = header.readUInt32BE(0);
    const boxType = header.toString('latin1', 4, 8);
    let headerSize = 8;
    if (boxSize === 1) {
      if (bytesRead < 16) return undefined;
      boxSize = Number(header.readBigUInt64BE(8));
      headerSize = 16;
    } else if (boxSize === 0) {
      boxSize = end - pos;
    }
    if (boxSize < headerSize) return undefined;
    if (boxType === type) return { bodyStart: pos + headerSize, end: Math.min(end, pos + boxSize) };
    pos += boxSize;
  }
  return undefined;
}
