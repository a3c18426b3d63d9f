// The site side of the role: what it needs from Security Center, and the local-folder stand-in.
export * from './model';
export { checkSiteFile, SITE_FILE_SCHEMA_VERSION, type SiteFile, type SiteFileCheck } from './siteFile';
export { LocalFolderSite, RECORDINGS_DIR, SITE_FILE_NAME, type LocalFolderSiteOptions } from './localFolderSite';
export { DEBIAN_FFMPEG, resolveFfmpeg, runFfmpeg, type ResolveFfmpegOptions, type RunFfmpegOptions } from './ffmpeg';
export { diskFullError, freeBytes, isNoSpace, mebibytes } from './diskSpace';
export { readMp4DurationMs } from './mp4';
export { fileStamp, parseRecordingFileName, pathSegmentFor, recordingFileName } from './timeline';
export {
  generateSampleSite,
  readSamplePasswords,
  SAMPLE_PASSWORDS_FILE,
  SAMPLE_CAMERA_IDS,
  SAMPLE_SITE_FILE,
  SAMPLE_USER_IDS,
  type SampleSite,
  type SampleSiteOptions,
  type SampleSiteRecording,
} from './sampleSite';
