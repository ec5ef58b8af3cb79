import { expect } from 'chai';
import { isRpaError } from '../../src/errors/failures.js';
import { cancellationRequest, localIsoDate, toDayMonthYear } from '../../src/providers/cancellation-request.js';
import { metrofiberDescriptor } from '../../src/providers/metrofiber/descriptor.js';

describe('cancellationRequest', () => {
  it('defaults the reason to customer_request and the date to today (local)', () => {
    const now = new Date(2026, 10, 23, 9, 0, 0);
    expect(cancellationRequest(metrofiberDescriptor, { circuit_number: ' MFN-1234-5678 ' }, now)).to.deep.equal({
      circuitNumber: 'MFN-1234-5678',
      reason: 'customer_request',
      effectiveDate: '2026-11-23',
    });
    expect(localIsoDate(now)).to.equal('2026-11-23');
  });

  it('formats dates for MetroFiber as DD/MM/YYYY', () => {
    expect(toDayMonthYear('2026-01-05')).to.equal('05/01/2026');
  });

  it('refuses unknown reasons, impossible dates and invalid numbers', () => {
    const cases: Array<[Record<string, string>, string, string]> = [
      [{ circuit_number: 'MFN-1234-5678', reason: 'x' }, 'VALIDATION_FAILED', 'reason'],
      [{ circuit_number: 'MFN-1234-5678', effective_date: '2026-02-29' }, 'VALIDATION_FAILED', 'effective_date'],
      [{ circuit_number: 'MFN-1234-5678', effective_date: '23/11/2026' }, 'VALIDATION_FAILED', 'effective_date'],
      [{ circuit_number: 'MFN-12345678' }, 'INVALID_CIRCUIT', 'circuit_number'],
    ];
    for (const [params, code, field] of cases) {
      try {
        cancellationRequest(metrofiberDescriptor, params as never);
        expect.fail(`expected ${JSON.stringify(params)} to be refused`);
      } catch (thrown) {
        expect(isRpaError(thrown, code as never), JSON.stringify(params)).to.equal(true);
        expect((thrown as { field?: string }).field).to.equal(field);
      }
    }
  });
});
