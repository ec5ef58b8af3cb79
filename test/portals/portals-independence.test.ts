import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

// The sources (this file runs from dist/test/portals/).
const PORTALS = fileURLToPath(new URL('../../../src/portals/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

describe('practice portals stand on SPEC.md alone', () => {
  it('import nothing from src/providers/ (the robots)', () => {
    const files = sources(PORTALS);
    expect(files.length).to.be.greaterThan(10);
    for (const file of files) {
      const imports = [...readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1]!);
      for (const spec of imports) expect(spec, `${relative(PORTALS, file)} imports ${spec}`).to.not.match(/(^|\/)providers\//);
    }
  });
});
