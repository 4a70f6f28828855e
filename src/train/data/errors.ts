/**
 * Errors of the data pipeline. A `DataError` is the user's to fix (a wrong folder, a missing split,
 * an unreadable image); its message names the path and says what to do.
 */
export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}

/** A file that is not a readable image: corrupt, truncated, empty or of an unsupported format. */
export class ImageDecodeError extends DataError {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`cannot decode image "${path}": ${reason}`);
    this.name = 'ImageDecodeError';
  }
}
