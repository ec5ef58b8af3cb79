import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { EVOTEL_CIRCUITS, METROFIBER_CIRCUITS, OCTOTEL_CIRCUITS, OPENSERVE_CIRCUITS, type PortalCircuitFormat } from '../../src/portals/core/contract.js';
import { evotelDescriptor } from '../../src/providers/evotel/descriptor.js';
import { metrofiberDescriptor } from '../../src/providers/metrofiber/descriptor.js';
import { octotelDescriptor } from '../../src/providers/octotel/descriptor.js';
import { openserveDescriptor } from '../../src/providers/openserve/descriptor.js';
import type { ProviderDescriptor } from '../../src/providers/provider.js';

/** Each robot's descriptor beside the practice portal's own constants, and numbers SPEC.md's table allows or not. */
const CASES: Array<{ descriptor: ProviderDescriptor; portal: PortalCircuitFormat; valid: string[]; invalid: string[] }> = [
  { descriptor: octotelDescriptor, portal: OCTOTEL_CIRCUITS, valid: ['OCT123456', 'OCT000000'], invalid: ['OCT12345', 'OCT1234567', 'oct123456', 'OSN123456', ' OCT123456'] },
  { descriptor: openserveDescriptor, portal: OPENSERVE_CIRCUITS, valid: ['OSN1234567', 'OSN0000000'], invalid: ['OSN123456', 'OSN12345678', 'OCT1234567'] },
  { descriptor: metrofiberDescriptor, portal: METROFIBER_CIRCUITS, valid: ['MFN-1234-5678', 'MFN-0000-0000'], invalid: ['MFN-12345678', 'MFN-123-45678', 'MFN-1234-567', 'MFN1234-5678'] },
  { descriptor: evotelDescriptor, portal: EVOTEL_CIRCUITS, valid: ['EVO123456', 'EVO000000'], invalid: ['EVO12345', 'EVO1234567', 'EV0123456'] },
];

// The contract the repository is written against (README: ../shared/portals/SPEC.md), when it is there.
const SPEC = fileURLToPath(new URL('../../../../shared/portals/SPEC.md', import.meta.url));

describe('robot descriptors and practice portals agree on SPEC.md "Circuit data"', () => {
  for (const { descriptor, portal, valid, invalid } of CASES) {
    it(`${descriptor.label}: same circuit format and reference prefix on both sides`, () => {
      expect(descriptor.circuitPattern.source).to.equal(portal.pattern.source);
      expect(descriptor.circuitPattern.flags).to.equal(portal.pattern.flags);
      expect(descriptor.referencePrefix).to.equal(portal.prefix);
      for (const number of valid) {
        expect(descriptor.circuitPattern.test(number), `robot: ${number}`).to.equal(true);
        expect(portal.pattern.test(number), `portal: ${number}`).to.equal(true);
      }
      for (const number of invalid) {
        expect(descriptor.circuitPattern.test(number), `robot: ${number}`).to.equal(false);
        expect(portal.pattern.test(number), `portal: ${number}`).to.equal(false);
      }
    });
  }

  it('both match the table in SPEC.md', function () {
    if (!existsSync(SPEC)) this.skip();
    const table = new Map<string, { format: string; prefix: string }>();
    for (const match of readFileSync(SPEC, 'utf8').matchAll(/^\| (\w+) \| `(\^[^`]+\$)` \| `(\w+)` \|$/gm)) {
      table.set(match[1]!, { format: match[2]!, prefix: match[3]! });
    }
    expect([...table.keys()]).to.deep.equal(CASES.map((c) => c.descriptor.label));
    for (const { descriptor, portal } of CASES) {
      const row = table.get(descriptor.label)!;
      expect(descriptor.circuitPattern.source, descriptor.label).to.equal(row.format);
      expect(portal.pattern.source, descriptor.label).to.equal(row.format);
      expect(descriptor.referencePrefix, descriptor.label).to.equal(row.prefix);
      expect(portal.prefix, descriptor.label).to.equal(row.prefix);
    }
  });
});
