/**
 * Exact credit amounts (LEDGER_RULES.md §1): a fixed-point decimal with 12 fractional digits held
 * in a bigint of units (1 credit = 10^12 units). No binary floating point is ever involved: values
 * come in as decimal text and go out as decimal text. Parsing refuses what cannot be held exactly
 * (more than 12 fractional digits, more than 26 integer digits) instead of rounding.
 */

export const FRACTION_DIGITS = 12;
export const INTEGER_DIGITS_MAX = 26;
const SCALE = 10n ** BigInt(FRACTION_DIGITS);
const UNITS_LIMIT = 10n ** BigInt(INTEGER_DIGITS_MAX + FRACTION_DIGITS);
const DECIMAL_TEXT = /^([+-])?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

export type DecimalParseError = 'not_a_number' | 'too_many_fraction_digits' | 'too_large';

/** Arithmetic left the representable range (26 integer digits, the schema's numeric(38,12)). */
export class DecimalRangeError extends RangeError {}

export class Decimal {
  /** The value times 10^12, exact. */
  readonly units: bigint;

  private constructor(units: bigint) {
    this.units = units;
  }

  static readonly ZERO = new Decimal(0n);

  static fromUnits(units: bigint): Decimal {
    if (units >= UNITS_LIMIT || units <= -UNITS_LIMIT)
      throw new DecimalRangeError('decimal out of range');
    return new Decimal(units);
  }

  /**
   * The nearest representable value: a sum that left the range (only reachable from inputs at its
   * edge) keeps its order against every value inside it, which is all a comparison needs.
   */
  static saturating(units: bigint): Decimal {
    if (units >= UNITS_LIMIT) return new Decimal(UNITS_LIMIT - 1n);
    if (units <= -UNITS_LIMIT) return new Decimal(-UNITS_LIMIT + 1n);
    return new Decimal(units);
  }

  /** Parses decimal text (as written in JSON or stored in numeric(38,12)); never rounds. */
  static parse(text: string): Decimal | DecimalParseError {
    const match = DECIMAL_TEXT.exec(text.trim());
    if (!match) return 'not_a_number';
    const [, sign, integerDigits = '0', fractionText = '', exponentText] = match;
    const exponent = exponentText === undefined ? 0 : Number(exponentText);
    if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 100) return 'too_large';
    // Shift the decimal point by the exponent on the digit string itself: no float on the way.
    let digits = (integerDigits + fractionText).replace(/^0+(?=\d)/, '');
    let pointFromRight = fractionText.length - exponent;
    if (pointFromRight < 0) {
      digits = digits + '0'.repeat(-pointFromRight);
      pointFromRight = 0;
    }
    const significant = digits.replace(/0+$/, '');
    const trailingZeros = digits.length - significant.length;
    const fractionDigits = Math.max(0, pointFromRight - trailingZeros);
    if (fractionDigits > FRACTION_DIGITS && /[1-9]/.test(digits)) return 'too_many_fraction_digits';
    let units: bigint;
    if (pointFromRight <= FRACTION_DIGITS) {
      units = BigInt(digits) * 10n ** BigInt(FRACTION_DIGITS - pointFromRight);
    } else {
      units = BigInt(digits) / 10n ** BigInt(pointFromRight - FRACTION_DIGITS);
    }
    if (units >= UNITS_LIMIT) return 'too_large';
    return new Decimal(sign === '-' ? -units : units);
  }

  /** Parses text known to be valid (from our own database or constants); throws otherwise. */
  static of(text: string | number): Decimal {
    const parsed = Decimal.parse(String(text));
    if (typeof parsed === 'string')
      throw new RangeError(`invalid decimal ${String(text)}: ${parsed}`);
    return parsed;
  }

  plus(other: Decimal): Decimal {
    return Decimal.fromUnits(this.units + other.units);
  }

  minus(other: Decimal): Decimal {
    return Decimal.fromUnits(this.units - other.units);
  }

  /**
   * The product, rounded half-to-even to 12 fractional digits: the one place a result can have
   * more digits than a credit amount holds (quantity × unit amount, LEDGER_RULES.md §5). The
   * rounding is at 10^-12 credits and unbiased.
   */
  timesRounded(other: Decimal): Decimal {
    const product = this.units * other.units;
    const negative = product < 0n;
    const magnitude = negative ? -product : product;
    let quotient = magnitude / SCALE;
    const remainder = magnitude % SCALE;
    const twice = remainder * 2n;
    if (twice > SCALE || (twice === SCALE && quotient % 2n === 1n)) quotient += 1n;
    return Decimal.fromUnits(negative ? -quotient : quotient);
  }

  negated(): Decimal {
    return new Decimal(-this.units);
  }

  abs(): Decimal {
    return this.units < 0n ? this.negated() : this;
  }

  compare(other: Decimal): -1 | 0 | 1 {
    return this.units < other.units ? -1 : this.units > other.units ? 1 : 0;
  }

  equals(other: Decimal): boolean {
    return this.units === other.units;
  }

  isZero(): boolean {
    return this.units === 0n;
  }

  isPositive(): boolean {
    return this.units > 0n;
  }

  isNegative(): boolean {
    return this.units < 0n;
  }

  static min(a: Decimal, b: Decimal): Decimal {
    return a.units <= b.units ? a : b;
  }

  static sum(values: Iterable<Decimal>): Decimal {
    let units = 0n;
    for (const value of values) units += value.units;
    return Decimal.fromUnits(units);
  }

  /** Canonical text: no exponent, no trailing fractional zeros ("100", "0.5", "-5.25"). */
  toString(): string {
    const negative = this.units < 0n;
    const magnitude = negative ? -this.units : this.units;
    const integerPart = magnitude / SCALE;
    const fractionPart = (magnitude % SCALE)
      .toString()
      .padStart(FRACTION_DIGITS, '0')
      .replace(/0+$/, '');
    const text = fractionPart ? `${integerPart}.${fractionPart}` : `${integerPart}`;
    return negative ? `-${text}` : text;
  }

  toJSON(): string {
    return this.toString();
  }
}
