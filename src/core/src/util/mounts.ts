/** Which mounted file system holds a path (Linux `/proc/self/mountinfo`), to name it in errors such as a full disk. */
import {readFile} from 'node:fs/promises';
import {resolve, sep} from 'node:path';

/** A mounted file system. */
export interface MountInfo {
  /** What is mounted: a device (`/dev/sda1`) or a pseudo source (`tmpfs`). */
  source: string;
  /** File system type (`ext4`, `tmpfs`). */
  fsType: string;
  /** Where it is mounted. */
  mountPoint: string;
}

/** mountinfo escapes space, tab, newline and backslash as octal (`\040`). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** Parse the lines of `/proc/self/mountinfo` (see proc(5)); malformed lines are skipped. */
export function parseMountInfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (fields.length < 10 || separator === -1 || separator + 2 >= fields.length) continue;
    mounts.push({mountPoint: unescape(fields[4]!), fsType: fields[separator + 1]!, source: unescape(fields[separator + 2]!)});
  }
  return mounts;
}

/** The file system mounted last at the deepest mount point that contains `path`; undefined where mountinfo cannot be read. */
export async function mountOf(path: string): Promise<MountInfo | undefined> {
  let text: string;
  try {
    text = await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
  const target = resolve(path);
  let best: MountInfo | undefined;
  for (const mount of parseMountInfo(text)) {
    const inside = mount.mountPoint === '/' || target === mount.mountPoint || target.startsWith(mount.mountPoint + sep);
    // Later lines are mounted over earlier ones at the same point.
    if (inside && (best === undefined || mount.mountPoint.length >= best.mountPoint.length)) best = mount;
  }
  return best;
}
