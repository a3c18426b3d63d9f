#!/usr/bin/env node
// Generates the sample site (site.json + recordings/) into a folder.
//
//   node scripts/make-sample-site.mjs --folder .sample-site [--minutes 30] [--segment-minutes 5]
//        [--cameras 12] [--start 2026-11-23T10:00:00Z] [--width 320] [--height 180] [--fps 5]
//
// Without --start, the recordings end at the current minute, so "the last
// half hour" of every camera is recorded. The TypeScript sources load through tsx.
import { require as tsxRequire } from 'tsx/cjs/api';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    folder: { type: 'string' },
    minutes: { type: 'string', default: '30' },
    'segment-minutes': { type: 'string', default: '5' },
    cameras: { type: 'string' },
    start: { type: 'string' },
    width: { type: 'string', default: '320' },
    height: { type: 'string', default: '180' },
    fps: { type: 'string', default: '5' },
    ffmpeg: { type: 'string' },
  },
});

function number(name) {
  const v = Number(values[name]);
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`--${name} must be a positive number, found ${JSON.stringify(values[name])}`);
    process.exit(2);
  }
  return v;
}

if (!values.folder) {
  console.error('usage: make-sample-site.mjs --folder DIR [--minutes N] [--segment-minutes N] [--cameras N] [--start ISO] [--width W --height H --fps F] [--ffmpeg PATH]');
  process.exit(2);
}
const minutes = number('minutes');
let start;
if (values.start) {
  start = new Date(values.start);
  if (Number.isNaN(start.getTime())) {
    console.error(`--start must be an ISO date, found ${JSON.stringify(values.start)}`);
    process.exit(2);
  }
} else {
  const minute = 60_000;
  start = new Date(Math.floor(Date.now() / minute) * minute - Math.round(minutes * minute));
}

const site = tsxRequire('../src/core/site/index.ts', import.meta.url);
const ffmpegPath = values.ffmpeg ?? site.resolveFfmpeg();
const began = Date.now();
const result = await site.generateSampleSite({
  folder: values.folder,
  ffmpegPath,
  start,
  durationMinutes: minutes,
  segmentMinutes: number('segment-minutes'),
  cameras: values.cameras === undefined ? undefined : number('cameras'),
  width: number('width'),
  height: number('height'),
  fps: number('fps'),
});
for (const r of result.recordings) {
  console.log(`${r.cameraName.padEnd(20)} ${r.from.toISOString()} - ${r.to.toISOString()}  ${r.segments} segments`);
}
console.log(`sample site "${result.model.name}" in ${result.folder} (${((Date.now() - began) / 1000).toFixed(1)} s${result.textBurnedIn ? '' : ', no burned-in text: this ffmpeg has no drawtext'})`);
