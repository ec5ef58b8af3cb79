import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** The src/ files a file imports (type-only imports included), by path relative to src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"`;]*?from\s*['"](\.{1,2}\/[^'"]+)['"]/g), ...text.matchAll(/import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)].map((m) => m[1]!);
  return specs.map((s) => relative(SRC, resolve(dirname(file), s.replace(/\.js$/, '.ts'))));
}

const graph = new Map(files(SRC).map((f) => [relative(SRC, f), importsOf(f)]));
const withoutComments = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');

describe('the shape of src/ (docs/architecture.md)', () => {
  it('has no import cycles among its files (type-only imports count)', () => {
    // Tarjan's strongly connected components: any component of more than one file is a cycle.
    let index = 0;
    const stack: string[] = [];
    const onStack = new Set<string>();
    const indices = new Map<string, number>();
    const low = new Map<string, number>();
    const cycles: string[][] = [];
    const visit = (v: string) => {
      indices.set(v, index);
      low.set(v, index++);
      stack.push(v);
      onStack.add(v);
      for (const w of graph.get(v) ?? []) {
        if (!graph.has(w)) continue;
        if (!indices.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v)!, low.get(w)!));
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indices.get(w)!));
      }
      if (low.get(v) === indices.get(v)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== v);
        if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component.sort());
      }
    };
    for (const v of graph.keys()) if (!indices.has(v)) visit(v);
    expect(cycles).to.deep.equal([]);
  });

  it('keeps SQL behind the stores of src/db/', () => {
    const offenders = [...graph.keys()].filter((f) => !f.startsWith('db/')).filter((f) => /\b(selectFrom|updateTable|insertInto|deleteFrom)\(|\bsql`/.test(withoutComments(readFileSync(join(SRC, f), 'utf8'))));
    expect(offenders).to.deep.equal([]);
  });

  it('keeps the practice portals apart from the robot: src/portals/ imports nothing from src/providers/', () => {
    const offenders = [...graph].filter(([f]) => f.startsWith('portals/')).flatMap(([f, deps]) => deps.filter((d) => d.startsWith('providers/')).map((d) => `${f} → ${d}`));
    expect(offenders).to.deep.equal([]);
  });

  it('has a batch in queues/ and processors/ only: no src/batches/ or src/workers/', () => {
    expect(existsSync(join(SRC, 'batches'))).to.equal(false);
    expect(existsSync(join(SRC, 'workers'))).to.equal(false);
  });

  it('has fewer top-level rooms than the 21 it had', () => {
    const rooms = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory());
    expect(rooms.length).to.be.below(21);
  });
});
