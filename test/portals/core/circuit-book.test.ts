import { expect } from 'chai';
import { CircuitBook } from '../../../src/portals/core/circuit-book.js';
import { deriveCircuit } from '../../../src/portals/core/circuit-derivation.js';

describe('portals/core/circuit-book', function () {
  it('derives status by last digit, the address modulo 997 and the cancelled reference', function () {
    const statuses = [undefined, 'active', 'active', 'active', 'active', 'active', 'active', 'pending', 'suspended', 'cancelled'];
    for (let d = 0; d <= 9; d++) expect(deriveCircuit(`OCT12345${d}`, 'OCT')?.status, String(d)).to.equal(statuses[d]);
    expect(deriveCircuit('OCT000996', 'OCT')!.address).to.equal('997 Fibre Street, Cape Town');
    expect(deriveCircuit('OCT000997', 'OCT')!.address).to.equal('1 Fibre Street, Cape Town');
    expect(deriveCircuit('MFN-1234-5679', 'MFN')).to.deep.equal({
      circuitNumber: 'MFN-1234-5679',
      status: 'cancelled',
      customer: 'Customer 12345679',
      address: `${(12345679 % 997) + 1} Fibre Street, Cape Town`,
      speed: '100/50 Mbps', // e = 7, 7 mod 5 = 2
      reference: 'MFN-CAN-945679',
    });
  });

  it('tells invalid, not found and found apart, and hands out copies', function () {
    const book = new CircuitBook(/^EVO\d{6}$/, 'EVO');
    expect(book.lookup('EVO12345')).to.deep.equal({ kind: 'invalid' });
    expect(book.lookup('EVO123450')).to.deep.equal({ kind: 'not_found' });
    const found = book.lookup('EVO123451');
    if (found.kind !== 'found') throw new Error('expected found');
    found.circuit.status = 'cancelled';
    expect(book.lookup('EVO123451')).to.have.nested.property('circuit.status', 'active');
  });

  it('cancels once with the sequence; seeds override, "missing" hides, reset forgets', function () {
    const book = new CircuitBook(/^EVO\d{6}$/, 'EVO');
    expect(book.cancel('EVO000001')).to.have.nested.property('circuit.reference', 'EVO-CAN-000001');
    expect(book.cancel('EVO000001')).to.deep.include({ kind: 'already_cancelled' });
    expect(book.cancel('EVO000009')).to.have.nested.property('circuit.reference', 'EVO-CAN-900009');
    expect(book.seed([{ circuit_number: 'EVO000002', status: 'cancelled' }, { circuit_number: 'EVO000003', status: 'missing' }])).to.deep.equal({ ok: true, count: 2 });
    expect(book.lookup('EVO000002')).to.have.nested.property('circuit.reference', 'EVO-CAN-000002');
    expect(book.lookup('EVO000002')).to.have.nested.property('circuit.customer', 'Customer 000002');
    expect(book.lookup('EVO000003')).to.deep.equal({ kind: 'not_found' });
    expect(book.seed([{ circuit_number: 'EVO000004', status: 'active' }, { circuit_number: 'EVO1', status: 'active' }]).ok).to.equal(false);
    // The bad batch applied nothing: EVO000004 is still derived, not seeded.
    expect(book.searchSeeded('customer', '000004')).to.deep.equal([]);
    expect(book.searchSeeded('customer', 'customer 000002')).to.have.length(1);
    book.reset();
    expect(book.lookup('EVO000001')).to.have.nested.property('circuit.status', 'active');
    expect(book.lookup('EVO000003')).to.have.property('kind', 'found');
    expect(book.cancel('EVO000005')).to.have.nested.property('circuit.reference', 'EVO-CAN-000001');
  });
});
