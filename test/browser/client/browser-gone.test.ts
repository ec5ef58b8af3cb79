import { expect } from 'chai';
import { browserGoneError, isBrowserGone } from '../../../src/browser/client/browser-gone.js';
import { RpaError } from '../../../src/errors/failures.js';

describe('isBrowserGone / browserGoneError', function () {
  const gone = [
    'page.goto: Target page, context or browser has been closed',
    'browserContext.newPage: Target page, context or browser has been closed\nBrowser logs: ...',
    'browser has disconnected',
    'browserType.connect: Browser has been closed',
    'Protocol error (Target.createTarget): Target closed',
    'browserType.connect: connect ECONNREFUSED 127.0.0.1:4567',
  ];
  for (const message of gone) {
    it(`classifies "${message.split('\n')[0]}" as gone`, function () {
      expect(isBrowserGone(new Error(message))).to.equal(true);
    });
  }

  it('does not classify portal or timeout errors as gone', function () {
    expect(isBrowserGone(new Error('locator.click: Timeout 15000ms exceeded.'))).to.equal(false);
    expect(isBrowserGone(new RpaError('LOGIN_REFUSED', 'Target page, context or browser has been closed'))).to.equal(false);
    expect(isBrowserGone(undefined)).to.equal(false);
  });

  it('keeps an existing BROWSER_GONE as gone', function () {
    expect(isBrowserGone(browserGoneError('b1'))).to.equal(true);
  });

  it('makes a retryable BROWSER_GONE whose cause carries no ws endpoint', function () {
    const cause = new Error('browserType.connect: WebSocket error: ws://127.0.0.1:4567/sEcReTpAtH 502\nCall log:\n  - <ws connecting> ws://127.0.0.1:4567/sEcReTpAtH');
    const err = browserGoneError('b7', cause);
    expect(err).to.include({ code: 'BROWSER_GONE', retryable: true });
    expect(err.details).to.deep.equal({ browserId: 'b7' });
    expect(err.message).to.include('b7');
    expect(String((err.cause as Error).message)).to.not.include('sEcReTpAtH');
    expect(String((err.cause as Error).message)).to.include('WebSocket error');
  });
});
