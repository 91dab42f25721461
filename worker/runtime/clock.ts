/**
 * The service's time. Domain code never reads a clock; processors and the api ask this one and
 * pass `now` in. `CLOCK=manual` gives a clock that only moves when told to (tests and demos).
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export class ManualClock implements Clock {
  private current: Date;

  constructor(start: Date) {
    this.current = start;
  }

  now(): Date {
    return new Date(this.current.getTime());
  }

  /** Moves forward only: a ledger's history never runs backwards. */
  advanceTo(to: Date): void {
    if (to.getTime() < this.current.getTime()) throw new RangeError('the clock only moves forward');
    this.current = new Date(to.getTime());
  }
}
