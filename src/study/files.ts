/**
 * The run folder of a study: where each record lives, atomic writes, and checked reads (a damaged
 * file is reported with its path, never half-read).
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../demo/files.js';
import { ARM_IDS, type ArmId } from './arms.js';
import { resolveStudyConfig, type Cell, type StudyConfig } from './config.js';
import type { ArmRecord, UnitRecord } from './types.js';

export const STUDY_FILE = 'study.json';

export interface StudyManifest {
  version: 1;
  config: StudyConfig;
  command: string;
  commit: string | null;
  created: string;
  /** Wall-clock seconds of every run of this folder so far (a resumed study adds its own). */
  seconds?: number;
}

export function unitDir(out: string, cell: string, seed: number): string {
  return path.join(out, 'units', `${cell}-s${seed}`);
}

export function writeJson(file: string, value: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(value)}\n`);
}

export function readJson<T>(file: string, check: (v: unknown) => v is T, what: string): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`gprl: cannot read ${file}: ${(err as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Error(`gprl: ${file} is damaged (not valid JSON: ${(err as Error).message}); delete it to recompute that ${what}`);
  }
  if (!check(v)) throw new Error(`gprl: ${file} is not a valid ${what} record; delete it to recompute it`);
  return v;
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export function isArmRecord(v: unknown): v is ArmRecord {
  return isObj(v) && typeof v.cell === 'string' && typeof v.seed === 'number' && (ARM_IDS as readonly unknown[]).includes(v.arm) && Array.isArray(v.evaluations) && isObj(v.series) && Array.isArray((v.series as Record<string, unknown>).gold);
}

export function isUnitRecord(v: unknown): v is UnitRecord {
  return isObj(v) && typeof v.cell === 'string' && typeof v.seed === 'number' && Array.isArray(v.verifiers) && typeof v.cyclicTripleShare === 'number';
}

function isManifest(v: unknown): v is StudyManifest {
  return isObj(v) && v.version === 1 && isObj(v.config) && typeof v.command === 'string';
}

/** The manifest of an existing run folder, its config validated again. */
export function readManifest(out: string): StudyManifest {
  const file = path.join(out, STUDY_FILE);
  if (!existsSync(file)) throw new Error(`gprl: ${out} is not a study run folder (no ${STUDY_FILE})`);
  const m = readJson(file, isManifest, 'study manifest');
  return { ...m, config: resolveStudyConfig(m.config, `${file}: config`) };
}

/** Records already written for one cell × seed. */
export function readUnitRecords(out: string, cell: Cell, seed: number): { unit: UnitRecord | null; arms: Map<ArmId, ArmRecord> } {
  const dir = unitDir(out, cell.id, seed);
  const arms = new Map<ArmId, ArmRecord>();
  let unit: UnitRecord | null = null;
  if (!existsSync(dir)) return { unit, arms };
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    if (name.startsWith('.') && name.endsWith('.tmp')) {
      rmSync(file, { force: true }); // a write interrupted before its rename
      continue;
    }
    if (name === 'unit.json') unit = readJson(file, isUnitRecord, 'unit');
    else if (name.endsWith('.json')) {
      const r = readJson(file, isArmRecord, 'arm');
      if (r.cell !== cell.id || r.seed !== seed || `${r.arm}.json` !== name) throw new Error(`gprl: ${file} holds ${r.cell} seed ${r.seed} arm ${r.arm}, not what its name says; delete it to recompute it`);
      arms.set(r.arm, r);
    }
  }
  return { unit, arms };
}
