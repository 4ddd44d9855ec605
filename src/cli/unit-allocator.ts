/**
 * The memory allocator the systemd unit runs the daemon with. glibc's malloc
 * keeps what a burst of large messages made the daemon allocate: after the
 * hostile-load attack, 40–60 MiB of freed native memory stayed in its arenas
 * for good, with or without its MALLOC_* tunables. jemalloc gives freed pages
 * back to the system within about a second with the settings below, and costs
 * nothing at rest (BENCHMARKS.md, "memory after the hostile-load attack").
 * `wgmesh systemd install` preloads it when the host has it (Debian and
 * Ubuntu: `apt-get install libjemalloc2`).
 */
import {access, constants} from 'node:fs/promises';

/**
 * jemalloc's settings for the daemon: two arenas (the daemon allocates from
 * one main thread and a few helper threads; jemalloc's default, four per CPU,
 * only adds idle memory), and freed pages returned after one second instead
 * of ten.
 */
export const JEMALLOC_CONF = 'narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0';

/** Debian's multiarch directory of each Node architecture. */
const MULTIARCH: Readonly<Record<string, string>> = {
  x64: 'x86_64-linux-gnu',
  arm64: 'aarch64-linux-gnu',
  arm: 'arm-linux-gnueabihf',
  ia32: 'i386-linux-gnu',
  ppc64: 'powerpc64le-linux-gnu',
  s390x: 's390x-linux-gnu',
  riscv64: 'riscv64-linux-gnu',
};

/** Where distributions put jemalloc's shared library, most specific first. */
export function jemallocCandidates(arch: string = process.arch): string[] {
  const multiarch = MULTIARCH[arch];
  return [...(multiarch === undefined ? [] : [`/usr/lib/${multiarch}/libjemalloc.so.2`]), '/usr/lib64/libjemalloc.so.2', '/usr/lib/libjemalloc.so.2'];
}

/** The first of `candidates` that exists and can be read, or undefined. */
export async function findJemalloc(candidates: readonly string[] = jemallocCandidates()): Promise<string | undefined> {
  for (const path of candidates) {
    if (await access(path, constants.R_OK).then(() => true, () => false)) return path;
  }
  return undefined;
}

/** The environment that makes a process use the jemalloc at `library` with {@link JEMALLOC_CONF}. */
export function jemallocEnvironment(library: string): Record<string, string> {
  return {LD_PRELOAD: library, MALLOC_CONF: JEMALLOC_CONF};
}
