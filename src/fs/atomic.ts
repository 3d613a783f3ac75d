/**
 * Durable file writes shared by model saves and trainer checkpoints: files are fsynced before they
 * are renamed into place, and directories are fsynced after renames, so a commit that returned
 * survives a crash or power cut, and one that did not leaves the previous state.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp, constants as fsConstants } from 'node:fs';
import path from 'node:path';

/** SHA-256 of `data` as 64 lowercase hex digits. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Write `data` to `file` (created or truncated) and fsync it. */
export async function writeFileSynced(file: string, data: string | Uint8Array): Promise<void> {
  const fh = await fsp.open(file, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync a directory, which persists the renames and creations in it; skipped where directories cannot be opened. */
export async function syncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(dir, fsConstants.O_RDONLY);
  } catch {
    return;
  }
  try {
    await fh.sync();
  } catch {
    /* not supported here (e.g. some network or Windows file systems) */
  } finally {
    await fh.close();
  }
}

/** A name for a temporary entry in a directory: `.tmp-<label>-<pid>-<random>`, which cleanup code recognizes by its `.tmp-` prefix. */
export function tempName(label: string): string {
  return `.tmp-${label}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/**
 * Replace `file` atomically: write a temporary file next to it, fsync, rename it over `file`, fsync
 * the directory. Readers see the old content or the new one, never a mix.
 */
export async function replaceFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, tempName(path.basename(file)));
  try {
    await writeFileSynced(tmp, data);
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dir);
}

/** Remove a directory tree, first renaming it to a `.tmp-` name so that a removal cut short leaves only an entry that cleanup recognizes. */
export async function removeTree(dir: string, entry: string): Promise<void> {
  const doomed = path.join(dir, tempName(`del-${entry}`));
  try {
    await fsp.rename(path.join(dir, entry), doomed);
  } catch {
    await fsp.rm(path.join(dir, entry), { recursive: true, force: true });
    return;
  }
  await fsp.rm(doomed, { recursive: true, force: true });
}
