import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../../db/database.js';

interface Series {
  labels: Record<string, string>;
  buckets: number[];
  count: number;
  sum: number;
}

/**
 * A Prometheus histogram computed in Postgres from rows with a `seconds` column (cumulative
 * bucket counts per label set), so it matches the rows exactly, whichever process finished
 * them. `refresh(db)` runs the query; the registry then reads the last result.
 */
export class DurationHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private series: Series[] = [];

  constructor(private readonly options: { name: string; help: string; buckets: number[]; labelNames: string[]; query: RawBuilder<unknown> }) {
    this.name = options.name;
    this.help = options.help;
  }

  async refresh(db: Db): Promise<void> {
    const labels = sql.join(this.options.labelNames.map((l) => sql.ref(l)));
    const bucketCounts = sql.join(this.options.buckets.map((b) => sql`count(*) FILTER (WHERE seconds <= ${sql.lit(b)})::int`));
    const { rows } = await sql<Record<string, unknown> & { buckets: number[]; n: number; total: number }>`
      SELECT ${labels}, ARRAY[${bucketCounts}] AS buckets, count(*)::int AS n, coalesce(sum(seconds), 0)::float8 AS total
      FROM (${this.options.query}) AS durations
      WHERE seconds >= 0
      GROUP BY ${labels}
    `.execute(db);
    this.series = rows.map((r) => ({
      labels: Object.fromEntries(this.options.labelNames.map((l) => [l, String(r[l])])),
      buckets: r.buckets,
      count: r.n,
      sum: r.total,
    }));
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
