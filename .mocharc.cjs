'use strict';
// Tests run on the compiled output (dist/) so sandboxed processors are exercised as they ship.
module.exports = {
  spec: process.env.MOCHA_SPEC ? process.env.MOCHA_SPEC.split(',') : ['dist/test/**/*.test.js'],
  require: ['dist/test/support/root-hooks.js'],
  timeout: 60000,
  forbidOnly: Boolean(process.env.CI),
  exit: true,
  reporter: 'spec',
};
