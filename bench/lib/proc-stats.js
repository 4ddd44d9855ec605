/**
 * What the benchmarks read from /proc about the processes they run: CPU time
 * and resident memory per process, and the loopback counters of the network
 * namespace a process is in.
 */
import {execFileSync} from 'node:child_process';
import {readFileSync} from 'node:fs';

/** Kernel clock ticks per second, for /proc/PID/stat. */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], {encoding: 'utf8'}).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU time (user + system, ms) and memory (MiB) of each of `pids` that is
 * still alive: resident (VmRSS, which counts in full the pages of the program
 * file that every process running it shares) and private (USS: the pages only
 * this process maps, what one more process of the same program costs).
 * @param {Iterable<number>} pids
 * @returns {Map<number, {cpuMs: number, rssMiB: number, ussMiB: number}>}
 */
export function processStats(pids) {
  const stats = new Map();
  for (const pid of pids) {
    try {
      // Fields after the parenthesised command name: utime and stime are 14th and 15th of the whole line.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      const privateKiB = [...rollup.matchAll(/^Private_(?:Clean|Dirty):\s+(\d+) kB/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
      stats.set(pid, {cpuMs: (ticks * 1000) / CLOCK_TICKS, rssMiB: rss ? Number(rss[1]) / 1024 : 0, ussMiB: privateKiB / 1024});
    } catch {
      // It exited meanwhile.
    }
  }
  return stats;
}

/**
 * Counters of the loopback of the network namespace process `pid` is in,
 * from its /proc/PID/net/dev. Each packet crosses loopback once, so in a
 * namespace of their own tx = rx = every byte the processes there sent, IP
 * and transport headers included.
 * @param {number} pid
 * @returns {{txBytes: number, txPackets: number} | null}
 */
export function loopbackCounters(pid) {
  const text = readFileSync(`/proc/${pid}/net/dev`, 'utf8');
  const line = text.split('\n').find((l) => l.trim().startsWith('lo:'));
  if (line === undefined) return null;
  // Fields after "lo:": rx bytes packets errs drop fifo frame compressed multicast, then tx bytes packets ...
  const fields = line.split(':')[1].trim().split(/\s+/).map(Number);
  return {txBytes: fields[8], txPackets: fields[9]};
}

/**
 * CPU time (ms, ns precision) this process's main thread has run, its worker
 * threads left out: the first field of /proc/self/task/PID/schedstat.
 * @returns {number}
 */
export function mainThreadCpuMs() {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}
