import { stopSharedServices } from './shared-services.js';

/** Mocha root hooks (loaded through .mocharc.cjs `require`). */
export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await stopSharedServices();
  },
};
