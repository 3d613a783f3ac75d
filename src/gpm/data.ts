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
 * (`onInvalid: 'skip'`) — never used.
 */
import { readFile } from 'node:fs/promises';
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

/** Parse JSONL text into preference pairs (see the module comment). */
export function parsePreferencePairs(text: string, options?: ParsePairsOptions): ParsedPairs {
  if (typeof text !== 'string') throw invalidType('text', 'a string of JSONL', text);
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
  const rows = text.split(/\r?\n/);
  rows.forEach((raw, idx) => {
    const lineNo = idx + 1;
    if (raw.trim() === '') return;
    try {
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

/** Read and parse a JSONL file of preference pairs (messages name the file and line). */
export async function readPreferencePairs(path: string, options?: Omit<ParsePairsOptions, 'source'>): Promise<ParsedPairs> {
  if (typeof path !== 'string') throw invalidType('path', 'a file path', path);
  const text = await readFile(path, 'utf8');
  return parsePreferencePairs(text, { ...(options ?? {}), source: path });
}
