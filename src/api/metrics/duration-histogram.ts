import type { DurationRow } from '../../db/metrics-store.js';

/**
 * A Prometheus histogram whose buckets are counted in Postgres (src/db/metrics-store.ts), so it
 * matches the rows exactly, whichever process finished them. `refresh()` loads them; the
 * registry then reads the last result.
 */
export class DurationHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private series: DurationRow[] = [];

  constructor(private readonly options: { name: string; help: string; buckets: number[]; load: (buckets: number[]) => Promise<DurationRow[]> }) {
    this.name = options.name;
    this.help = options.help;
  }

  async refresh(): Promise<void> {
    this.series = await this.options.load(this.options.buckets);
  }

  /** Forgets the last result (its source did not answer). */
  reset(): void {
    this.series = [];
  }

  /** prom-client's metric interface (what Registry#metrics() reads). */
  async get() {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    for (const s of this.series) {
      this.options.buckets.forEach((le, i) => values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le }, value: s.buckets[i]! }));
      values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
