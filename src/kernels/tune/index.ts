/**
 * The kernel autotuner (see tuner.ts): timers (timer.ts), the kept choices and their cache format (cache.ts).
 * Node's cache file is file.node.ts; the browser's IndexedDB store is src/web/tune-cache.browser.ts.
 */
export { type Timer, type Measurement, type MeasureOptions, type Candidate, WallTimer, TimestampTimer, createTimer, measureAll, measureMs } from './timer';
export {
  type AdapterKey,
  type TunedChoice,
  type TuneCacheEntry,
  type TuneCacheFile,
  type LoadedTuneCache,
  TUNE_CACHE_FORMAT,
  TUNE_CACHE_VERSION,
  TuneTable,
  adapterKey,
  kernelVersion,
  mergeTuneCache,
  readTuneCache,
  tableChooser,
  tuneCacheText,
  useTuneTable,
} from './cache';
export { type TuneTarget, type TuneOptions, describeChoice, recordChoices, tuneTargets } from './tuner';
