// files.ts: writing a file only when it would change, so that a second run of `up` (the images,
// the bundles) or of `tug host configure` leaves every file as it was and can say what it wrote.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** writeIfChanged writes content to path (making its dir), through a temporary file renamed
 *  over it, unless the file holds exactly that with that mode; says whether it wrote. */
export function writeIfChanged(path: string, content: string | Uint8Array, mode = 0o644): boolean {
  const bytes = typeof content === 'string' ? Buffer.from(content) : Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  if (existsSync(path) && readFileSync(path).equals(bytes) && (statSync(path).mode & 0o777) === mode) return false;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, bytes, { mode });
  chmodSync(`${path}.tmp`, mode);
  renameSync(`${path}.tmp`, path);
  return true;
}
