import { readdirSync, readFileSync } from 'node:fs';

/** CPU seconds used so far by `pid` and everything below it, by kind of process (Linux /proc). */
export interface TreeCpu {
  total: number;
  byKind: Record<string, number>;
}

const TICKS_PER_SECOND = 100;

/**
 * What each process of the tree has used (utime + stime, its own and its reaped children's), summed
 * by kind: chromium, batch-child (a sandboxed batch processor), node (this process and other node
 * children), postgres, valkey, other. Take it twice and subtract: processes that ended in between
 * still count through their parent's reaped-children figures only if the parent reaped them.
 */
export function treeCpu(root: number = process.pid): TreeCpu {
  const stats = new Map<number, { ppid: number; cpu: number; kind: string }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(fields[1]);
      // utime, stime, cutime, cstime are fields 14–17 of stat (11–14 after the name).
      const cpu = (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const kind = /chrom/.test(cmdline) ? 'chromium' : /bullmq\/dist\/cjs\/classes\/main\.js/.test(cmdline) ? 'batch-child' : /postgres/.test(cmdline) ? 'postgres' : /redis|valkey/.test(cmdline) ? 'valkey' : /node/.test(cmdline) ? 'node' : 'other';
      stats.set(Number(entry), { ppid, cpu, kind });
    } catch {
      // gone meanwhile
    }
  }
  const children = new Map<number, number[]>();
  for (const [pid, s] of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), pid]);
  const byKind: Record<string, number> = {};
  let total = 0;
  const visit = (pid: number) => {
    const s = stats.get(pid);
    if (s) {
      // The root's reaped children are counted in its own cutime; its live ones below.
      byKind[s.kind] = (byKind[s.kind] ?? 0) + s.cpu;
      total += s.cpu;
    }
    for (const c of children.get(pid) ?? []) visit(c);
  };
  visit(root);
  return { total, byKind };
}

export function cpuSince(before: TreeCpu, after: TreeCpu): TreeCpu {
  const byKind: Record<string, number> = {};
  for (const kind of new Set([...Object.keys(before.byKind), ...Object.keys(after.byKind)])) byKind[kind] = (after.byKind[kind] ?? 0) - (before.byKind[kind] ?? 0);
  return { total: after.total - before.total, byKind };
}

/** The machine's CPU counters (/proc/stat, every process): busy and total, in seconds over all cores. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [, ...fields] = line.trim().split(/\s+/);
  const n = fields.map(Number);
  const idle = (n[3] ?? 0) + (n[4] ?? 0);
  const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / TICKS_PER_SECOND, total: total / TICKS_PER_SECOND };
}

export function machineCpuSince(before: { busy: number; total: number }): { busySeconds: number; coreSeconds: number } {
  const now = machineCpu();
  return { busySeconds: now.busy - before.busy, coreSeconds: now.total - before.total };
}
