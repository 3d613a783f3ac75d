/**
 * Preference pairs from JSONL: one JSON object per line,
 *
 *   {"prompt": [...], "chosen": [...], "rejected": [...], "label": 0.8}
 *
 * where the arrays are token ids (`kind: 'tokens'`) or precomputed features (`kind: 'features'`:
 * `prompt` is `h(x)`, `chosen`/`rejected` are the joint features `h(x, y)`), and `label` (optional,
 * in [0, 1], default 1) is the probability that `chosen` is preferred. Other keys are ignored; blank
 * lines are skipped. Every line is validated: a bad line is reported with its 1-based line number
 * and either rejected (`onInvalid: 'throw'`, the default) or left out and collected
 * (`onInvalid: 'skip'`) — never used. Files are UTF-8: a leading byte order mark is skipped, and a
 * line that is not valid UTF-8 is a bad line (never decoded with replacement characters).
 */
import { readFile } from 'node:fs/promises';
import { decodeUtf8 } from '../fs/utf8.js';
import { assertKnownKeys, assertOneOf, assertOptionsObject, assertPositiveInt, invalidType } from '../errors.js';
import { assertFeatureVector, assertTokenSequence, isArrayInput, type InputKind } from './inputs.js';
import type { PreferencePair } from './train.js';

export interface ParsePairsOptions {
  /** `'throw'` rejects the first bad line (RangeError/TypeError naming the line); `'skip'` leaves bad lines out and lists them in `invalid`. Defaults to `'throw'`. */
  onInvalid?: 'throw' | 'skip';
  /** `'tokens'`, `'features'`, or `'auto'` (tokens when every value of the first valid line is a non-negative integer, else features; pass the kind explicitly for feature files). Defaults to `'auto'`. */
  kind?: InputKind | 'auto';
  /** Required feature width (features). Defaults to the width of the first valid line. */
  featureDim?: number;
  /** Token ids must be below this (tokens). Defaults to no bound. */
  vocabSize?: number;
  /** Name used in messages (e.g. the file path). Defaults to `'JSONL'`. */
  source?: string;
}

export interface InvalidLine {
  /** 1-based line number. */
  line: number;
  /** What is wrong. */
  reason: string;
}

export interface ParsedPairs {
  pairs: PreferencePair[];
  /** Bad lines left out (`onInvalid: 'skip'`). */
  invalid: InvalidLine[];
  /** The input kind of the pairs. */
  kind: InputKind;
  /** Feature width (features only). */
  featureDim?: number;
  /** 1-based line number of each pair, parallel to `pairs`. */
  lines: number[];
}

const FIELDS = ['prompt', 'chosen', 'rejected'] as const;

function allNonNegativeIntegers(obj: Record<string, unknown>): boolean {
  return FIELDS.every((f) => {
    const v = obj[f];
    return isArrayInput(v) && Array.from(v).every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0);
  });
}

/** A line that could not be decoded: what is wrong with its bytes. */
interface UndecodableLine {
  undecodable: string;
}

/** Parse JSONL text into preference pairs (see the module comment). A leading byte order mark is skipped. */
export function parsePreferencePairs(text: string, options?: ParsePairsOptions): ParsedPairs {
  if (typeof text !== 'string') throw invalidType('text', 'a string of JSONL', text);
  return parseRows((text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).split(/\r?\n/), options);
}

function parseRows(rows: (string | UndecodableLine)[], options: ParsePairsOptions | undefined): ParsedPairs {
  const o: ParsePairsOptions = options ?? {};
  assertOptionsObject('options', options);
  assertKnownKeys('options', options as Record<string, unknown> | undefined, ['onInvalid', 'kind', 'featureDim', 'vocabSize', 'source']);
  const onInvalid = o.onInvalid ?? 'throw';
  assertOneOf('options.onInvalid', onInvalid, ['throw', 'skip']);
  assertOneOf('options.kind', o.kind ?? 'auto', ['tokens', 'features', 'auto']);
  if (o.featureDim !== undefined) assertPositiveInt('options.featureDim', o.featureDim);
  if (o.vocabSize !== undefined) assertPositiveInt('options.vocabSize', o.vocabSize);
  const source = o.source ?? 'JSONL';
  let kind: InputKind | undefined = o.kind === 'auto' ? undefined : o.kind;
  let featureDim = o.featureDim;

  const pairs: PreferencePair[] = [];
  const lines: number[] = [];
  const invalid: InvalidLine[] = [];
  rows.forEach((raw, idx) => {
    const lineNo = idx + 1;
    if (typeof raw === 'string' && raw.trim() === '') return;
    try {
      if (typeof raw !== 'string') throw new SyntaxError(raw.undecodable);
      let obj: unknown;
      try {
        obj = JSON.parse(raw);
      } catch (err) {
        throw new SyntaxError(`not valid JSON (${(err as Error).message})`);
      }
      if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw invalidType('line', 'a JSON object { prompt, chosen, rejected, label? }', obj);
      const rec = obj as Record<string, unknown>;
      for (const f of FIELDS) if (!(f in rec)) throw invalidType(f, 'an array (the field is missing)', undefined);
      const k: InputKind = kind ?? (allNonNegativeIntegers(rec) ? 'tokens' : 'features');
      if (k === 'features') {
        const width = featureDim ?? (isArrayInput(rec.prompt) ? rec.prompt.length : 0);
        for (const f of FIELDS) assertFeatureVector(f, rec[f], width);
        featureDim = width;
      } else {
        for (const f of FIELDS) assertTokenSequence(f, rec[f], o.vocabSize, f !== 'prompt');
      }
      const pair: PreferencePair = {
        prompt: Array.from(rec.prompt as ArrayLike<number>),
        chosen: Array.from(rec.chosen as ArrayLike<number>),
        rejected: Array.from(rec.rejected as ArrayLike<number>),
      };
      if (rec.label !== undefined) {
        const label = rec.label;
        if (typeof label !== 'number') throw invalidType('label', 'a number in [0, 1]', label);
        if (!(label >= 0 && label <= 1)) throw new RangeError(`gprl: invalid label: expected a number in [0, 1], got ${label}`);
        pair.label = label;
      }
      kind = k;
      pairs.push(pair);
      lines.push(lineNo);
    } catch (err) {
      const reason = (err as Error).message.replace(/^gprl: /, '');
      if (onInvalid === 'throw') {
        const Ctor = err instanceof TypeError ? TypeError : RangeError;
        throw new Ctor(`gprl: ${source} line ${lineNo}: ${reason}`);
      }
      invalid.push({ line: lineNo, reason });
    }
  });
  const result: ParsedPairs = { pairs, invalid, kind: kind ?? (o.kind === 'features' ? 'features' : 'tokens'), lines };
  if (result.kind === 'features' && featureDim !== undefined) result.featureDim = featureDim;
  return result;
}

/**
 * Split UTF-8 bytes into lines (at LF, dropping a CR before it), skipping a leading byte order mark.
 * A line that is not valid UTF-8 becomes an {@link UndecodableLine} naming the first bad byte.
 */
function decodeLines(bytes: Uint8Array): (string | UndecodableLine)[] {
  const start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  const body = bytes.subarray(start);
  try {
    return decodeUtf8(body).split(/\r?\n/);
  } catch {
    /* some line is not UTF-8: decode line by line to find it */
  }
  const rows: (string | UndecodableLine)[] = [];
  let from = 0;
  while (from <= body.length) {
    let to = body.indexOf(0x0a, from);
    if (to < 0) to = body.length;
    const line = body.subarray(from, to > from && body[to - 1] === 0x0d ? to - 1 : to);
    try {
      rows.push(decodeUtf8(line));
    } catch {
      rows.push({ undecodable: badUtf8(line) });
    }
    from = to + 1;
  }
  return rows;
}

/** Describe the first invalid UTF-8 sequence of `line` (1-based byte position within the line). */
function badUtf8(line: Uint8Array): string {
  // The lenient decoder replaces each invalid sequence by U+FFFD; the bytes before the first
  // replacement that is not a genuine U+FFFD (EF BF BD) are valid, so their length is its position.
  const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(line);
  const encoder = new TextEncoder();
  let at = line.length;
  for (let i = text.indexOf('\ufffd'); i >= 0; i = text.indexOf('\ufffd', i + 1)) {
    const b = encoder.encode(text.slice(0, i)).length;
    if (!(line[b] === 0xef && line[b + 1] === 0xbf && line[b + 2] === 0xbd)) {
      at = b;
      break;
    }
  }
  const shown = Array.from(line.subarray(at, at + 4), (x) => `0x${x.toString(16).padStart(2, '0')}`).join(' ');
  return `not valid UTF-8 (byte ${at + 1} of the line: ${shown})`;
}

/** Read and parse a JSONL file of preference pairs (messages name the file and line). UTF-8; a byte order mark is skipped; invalid UTF-8 is reported with its line. */
export async function readPreferencePairs(path: string, options?: Omit<ParsePairsOptions, 'source'>): Promise<ParsedPairs> {
  if (typeof path !== 'string') throw invalidType('path', 'a file path', path);
  const bytes = await readFile(path);
  return parseRows(decodeLines(bytes), { ...(options ?? {}), source: path });
}
