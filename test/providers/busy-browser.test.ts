import { expect } from 'chai';
import evotel from '../../src/providers/evotel/index.js';
import openserve from '../../src/providers/openserve/index.js';
import { expectedValidation } from '../support/expected-circuit.js';
import { ProviderHarness, starveRenderers } from './provider-test-kit.js';

/**
 * Under load a browser answers late. A page that is there must still be read as there: a slow
 * answer taken for a missing field was a contract mismatch, and three of them paused a provider.
 */
for (const [automation, circuits] of [
  [evotel.automation, ['EVO420101', 'EVO420219']],
  [openserve.automation, ['OSN0420101', 'OSN0420219']],
] as const) {
  describe(`${automation.descriptor.label} automation in a busy browser (its renderers stopped with SIGSTOP, 1.1–1.6 s at a time)`, function () {
    this.timeout(120_000);
    const h = new ProviderHarness(automation);
    before(() => h.start());
    after(() => h.stop());

    it('reads every field of found and cancelled circuits, and finds no contract mismatch', async () => {
      const session = await h.session();
      await session.login();
      // Longer than the 1 s a field once had to be read in, with short runs between: reads cross a stop.
      const starving = starveRenderers({ stopMs: [1_100, 1_600], runMs: [5, 60] });
      const results: unknown[] = [];
      let stops = 0;
      try {
        for (const [i, circuit] of circuits.entries()) results.push((await session.validate(`busy-${i}`, circuit)).result);
      } finally {
        stops = await starving();
      }
      expect(stops, 'renderer stops while the circuits were read').to.be.at.least(circuits.length);
      expect(results).to.deep.equal(circuits.map((c) => expectedValidation(automation.descriptor.name, c)));
    });
  });
}
