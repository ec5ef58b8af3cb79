/** `<PREFIX>-CAN-<n>` with n a 6-digit sequence per portal, starting at 000001. */
export class ReferenceSequence {
  private next = 1;

  constructor(private readonly prefix: string) {}

  issue(): string {
    return `${this.prefix}-CAN-${String(this.next++).padStart(6, '0')}`;
  }

  reset(): void {
    this.next = 1;
  }
}
