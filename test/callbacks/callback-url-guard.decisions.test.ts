import { expect } from 'chai';
import { isRpaError } from '../../src/errors/failures.js';
import {
  checkCallbackUrl,
  isForbiddenAddress,
  parseAllowedHost,
  resolveCallbackTarget,
  type HostLookup,
  type ResolvedAddress,
} from '../../src/callbacks/callback-url-guard.js';

/** A resolver answering from a table and counting its calls: these tests send no traffic and ask no DNS server. */
function tableLookup(table: Record<string, readonly ResolvedAddress[]>): HostLookup & { calls: string[] } {
  const calls: string[] = [];
  const lookup = async (hostname: string) => {
    calls.push(hostname);
    const answer = table[hostname];
    if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return answer;
  };
  return Object.assign(lookup, { calls });
}

const v4 = (address: string): ResolvedAddress => ({ address, family: 4 });
const v6 = (address: string): ResolvedAddress => ({ address, family: 6 });
const none = { allowHosts: [] as string[] };

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (isRpaError(err, 'CALLBACK_URL_FORBIDDEN')) return err.message;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('callback URL guard: decisions', () => {
  describe('isForbiddenAddress', () => {
    const forbidden = [
      '127.0.0.1', '127.255.255.254', '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '169.254.0.1',
      '0.0.0.0', '100.64.0.1', '224.0.0.1', '255.255.255.255', '198.18.0.1', '192.0.2.10',
      '::', '::1', 'fe80::1', 'fe80::1%eth0', 'fc00::1', 'fd12:3456::1', 'ff02::1', 'fec0::1',
      '::ffff:127.0.0.1', '::ffff:7f00:1', '0:0:0:0:0:ffff:7f00:1', '::ffff:10.0.0.1', '::ffff:a9fe:a9fe', '::127.0.0.1', '::ffff:0:7f00:1',
      '2002:7f00:1::', '2002:a9fe:a9fe::1', '64:ff9b::7f00:1', '2001::1', '2001:db8::1', '100::1',
      'not-an-ip', '', '127.1',
    ];
    const allowed = ['93.184.216.34', '8.8.8.8', '172.32.0.1', '100.128.0.1', '169.255.0.1', '2606:4700::1111', '2a00:1450:4001::200e', '::ffff:8.8.8.8', '2002:808:808::1'];
    for (const address of forbidden) it(`refuses ${JSON.stringify(address)}`, () => expect(isForbiddenAddress(address)).to.equal(true));
    for (const address of allowed) it(`accepts ${address}`, () => expect(isForbiddenAddress(address)).to.equal(false));
  });

  describe('checkCallbackUrl (at submit, no DNS)', () => {
    const refused = [
      'http://127.0.0.1/cb', 'http://2130706433/', 'http://0x7f.1/', 'http://0x7f000001/', 'http://017700000001/', 'http://127.1/',
      'http://127.0.0.1./', 'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'http://[0:0:0:0:0:ffff:7f00:1]/', 'http://[::127.0.0.1]/',
      'http://169.254.169.254/latest/meta-data', 'http://[::ffff:a9fe:a9fe]/', 'http://10.0.0.1/', 'http://0/', 'http://[::]/',
      'http://[fd00::1]/', 'http://[fe80::1]/', 'http://localhost/', 'http://LOCALHOST./', 'http://api.localhost/', 'http://printer.local/',
      'http://metadata.google.internal/', 'http://intranet/', 'ftp://ords.example.com/', 'file:///etc/passwd', 'http://user:pw@ords.example.com/',
      'not a url', 'https://①②⑦.0.0.1/',
    ];
    for (const url of refused) {
      it(`refuses ${url}`, () => {
        let thrown: unknown;
        try {
          checkCallbackUrl(url, none);
        } catch (err) {
          thrown = err;
        }
        expect(isRpaError(thrown, 'CALLBACK_URL_FORBIDDEN'), String(thrown)).to.equal(true);
      });
    }
    it('accepts public hosts and addresses on the allowed ports (CALLBACK_ALLOW_PORTS, default 80 and 443)', () => {
      expect(checkCallbackUrl('https://ords.example.com/cb?x=1', none).hostname).to.equal('ords.example.com');
      expect(checkCallbackUrl('http://93.184.216.34:80/cb', none).hostname).to.equal('93.184.216.34');
      expect(checkCallbackUrl('https://ords.example.com:443/cb', none).hostname).to.equal('ords.example.com');
      expect(checkCallbackUrl('https://[2606:4700::1111]/cb', none).hostname).to.equal('[2606:4700::1111]');
      expect(() => checkCallbackUrl('http://93.184.216.34:8080/cb', none)).to.throw(/port 8080 is not allowed/);
      expect(checkCallbackUrl('http://93.184.216.34:8080/cb', { allowHosts: [], allowPorts: [443, 8080] }).port).to.equal('8080');
      expect(() => checkCallbackUrl('https://ords.example.com/cb', { allowHosts: [], allowPorts: [8443] })).to.throw(/port 443 is not allowed/);
    });
    it('CALLBACK_ALLOW_HOSTS lifts the address rule for the named hosts only, in any spelling of them; ports stay restricted', () => {
      const policy = { allowHosts: ['127.0.0.1:9999', 'ords.internal', '::1', '[fd00::7]:*'] };
      expect(checkCallbackUrl('http://127.0.0.1:9999/cb', policy).hostname).to.equal('127.0.0.1');
      expect(checkCallbackUrl('http://2130706433:9999/cb', policy).hostname).to.equal('127.0.0.1');
      expect(checkCallbackUrl('http://127.0.0.1/cb', policy).hostname).to.equal('127.0.0.1');
      expect(checkCallbackUrl('http://ords.internal/cb', policy).hostname).to.equal('ords.internal');
      expect(checkCallbackUrl('http://[::1]/cb', policy).hostname).to.equal('[::1]');
      expect(checkCallbackUrl('http://[fd00::7]:22/cb', policy).hostname).to.equal('[fd00::7]');
      // The port probe: an allowed host on any other port is refused before any connection.
      for (const url of ['http://127.0.0.1:22/cb', 'http://127.0.0.1:5432/cb', 'http://ords.internal:6379/cb', 'http://[::1]:9999/cb']) {
        expect(() => checkCallbackUrl(url, policy), url).to.throw(/port \d+ is not allowed/);
      }
      // A host:port entry adds that port on that host only.
      expect(() => checkCallbackUrl('http://ords.internal:9999/cb', policy)).to.throw(/port 9999 is not allowed/);
      expect(() => checkCallbackUrl('http://127.0.0.2/cb', policy)).to.throw(/loopback/);
      expect(() => checkCallbackUrl('http://10.0.0.1/cb', policy)).to.throw(/private/);
    });
    it('reads CALLBACK_ALLOW_HOSTS entries as host, host:port, host:*, [v6]:port or a bare IPv6 address', () => {
      expect(parseAllowedHost('127.0.0.1')).to.deep.equal({ host: '127.0.0.1' });
      expect(parseAllowedHost('ORDS.Internal.:8443')).to.deep.equal({ host: 'ords.internal', port: 8443 });
      expect(parseAllowedHost('127.0.0.1:*')).to.deep.equal({ host: '127.0.0.1', port: '*' });
      expect(parseAllowedHost('::1')).to.deep.equal({ host: '::1' });
      expect(parseAllowedHost('[::1]:8080')).to.deep.equal({ host: '::1', port: 8080 });
    });
  });

  describe('resolveCallbackTarget (at delivery, after DNS)', () => {
    it('refuses names that resolve to a forbidden address, in either family, even when only one of several is', async () => {
      const lookup = tableLookup({
        'loopback.example.com': [v4('127.0.0.1')],
        'metadata.example.com': [v4('169.254.169.254')],
        'mixed.example.com': [v4('93.184.216.34'), v4('10.1.2.3')],
        'ula.example.com': [v6('fd00::5')],
        'mapped.example.com': [v6('::ffff:192.168.0.1')],
        'sixtofour.example.com': [v6('2002:c0a8:1::1')],
      });
      const hosts = ['loopback.example.com', 'metadata.example.com', 'mixed.example.com', 'ula.example.com', 'mapped.example.com', 'sixtofour.example.com'];
      for (const host of hosts) {
        const message = await refusal(resolveCallbackTarget(`https://${host}/cb`, none, { lookup }));
        expect(message).to.include('resolves to a loopback, private, link-local or other internal address');
        // Whoever chose the URL learns nothing of the internal address the name has.
        for (const address of ['127.0.0.1', '169.254', '10.1.2.3', 'fd00', '192.168', '2002:']) expect(message, host).to.not.include(address);
      }
      expect(lookup.calls).to.have.length(6);
    });

    it('returns the checked address of a public name (the one to connect to) after one lookup', async () => {
      const lookup = tableLookup({ 'ords.example.com': [v4('93.184.216.34'), v6('2606:2800:220:1::1')] });
      const target = await resolveCallbackTarget('https://ords.example.com/cb', none, { lookup });
      expect(target).to.deep.include({ address: '93.184.216.34', family: 4 });
      expect(target.url.hostname).to.equal('ords.example.com');
      expect(lookup.calls).to.deep.equal(['ords.example.com']);
      const six = await resolveCallbackTarget('https://v6.example.com/cb', none, { lookup: tableLookup({ 'v6.example.com': [v6('2606:2800:220:1::1')] }) });
      expect(six).to.deep.include({ address: '2606:2800:220:1::1', family: 6 });
    });

    it('uses an IP literal as it is, without a lookup', async () => {
      const lookup = tableLookup({});
      expect(await resolveCallbackTarget('http://93.184.216.34/cb', none, { lookup })).to.deep.include({ address: '93.184.216.34', family: 4 });
      expect(await resolveCallbackTarget('http://[2606:4700::1111]/cb', none, { lookup })).to.deep.include({ address: '2606:4700::1111', family: 6 });
      await refusal(resolveCallbackTarget('http://0x7f.1/', none, { lookup }));
      expect(lookup.calls).to.deep.equal([]);
    });

    it('lets an allowed name resolve to loopback, and still refuses other names that do', async () => {
      const lookup = tableLookup({ 'ords.example.com': [v4('127.0.0.1')], 'evil.example.com': [v4('127.0.0.1')] });
      const policy = { allowHosts: ['ords.example.com:8080'] };
      expect(await resolveCallbackTarget('http://ords.example.com:8080/cb', policy, { lookup })).to.deep.include({ address: '127.0.0.1', family: 4 });
      await refusal(resolveCallbackTarget('http://evil.example.com/cb', policy, { lookup }));
    });

    it('a name that does not resolve is a retryable CALLBACK_FAILED, not a refusal', async () => {
      let thrown: unknown;
      try {
        await resolveCallbackTarget('https://gone.example.com/cb', none, { lookup: tableLookup({}) });
      } catch (err) {
        thrown = err;
      }
      expect(isRpaError(thrown, 'CALLBACK_FAILED')).to.equal(true);
      expect((thrown as { retryable: boolean }).retryable).to.equal(true);
    });
  });
});
